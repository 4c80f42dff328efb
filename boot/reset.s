/*
 * Everything that runs before the first Rust instruction.
 *
 * QEMU maps the firmware image so that it ends at 4 GiB and starts the CPU in 16-bit real mode
 * with CS base 0xFFFF0000 and IP 0xFFF0, i.e. at physical 0xFFFFFFF0 (`reset_vector` below).
 * The code here only uses CS-relative and 32-bit physical addresses, so it never depends on the
 * legacy alias of the image below 1 MiB (QEMU does not create that alias under SEV-SNP).
 *
 * Steps:
 *   16-bit: read the TSC (boot-time measurement), load our GDT, enable protection, far jump.
 *   32-bit: zero .bss, copy .data from ROM to RAM, build identity page tables for the low 4 GiB
 *           plus the same 4 GiB at 0xFFFFFFFF_00000000 (where the kernel's code is linked), enable
 *           PAE + SSE, long mode with NX, paging with write protection, far jump to 64-bit code.
 *   64-bit: load data segments and the boot stack, call `kernel_entry` (Rust) at its high address.
 *
 * Writable data lives in RAM (the image is read-only ROM in plain QEMU); the linker script
 * (boot/layout.ld) places .data/.bss at 1 MiB and provides the symbols used here.
 *
 * Assumes an x86-64 CPU with NX (every model QEMU offers). No CPUID is executed here on purpose:
 * under SEV-ES/SNP, CPUID traps (#VC) and there is no handler yet.
 */

    .section .boot.text, "ax"

/* ------------------------------------------------------------------------------------------ */
    .code16
real_mode_start:
    cli
    cld
    /* EBX:EBP = TSC at reset; kept untouched until it is stored in boot_tsc. */
    rdtsc
    movl    %eax, %ebx
    movl    %edx, %ebp
    /* CS base is 0xFFFF0000: address the GDT pointer relative to it. */
    lgdtl   %cs:(boot_gdt_ptr - 0xFFFF0000)
    movl    %cr0, %eax
    orl     $1, %eax                  /* CR0.PE */
    movl    %eax, %cr0
    ljmpl   $0x08, $protected_mode_start

/* ------------------------------------------------------------------------------------------ */
    .code32
protected_mode_start:
    movw    $0x10, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    movw    %ax, %fs
    movw    %ax, %gs

    /* Zero .bss (includes the boot page tables and all stacks). */
    movl    $__bss_start, %edi
    movl    $__bss_end, %ecx
    subl    %edi, %ecx
    xorl    %eax, %eax
    rep stosb

    /* Copy .data from its load address in ROM to RAM. */
    movl    $__data_load_start, %esi
    movl    $__data_start, %edi
    movl    $__data_end, %ecx
    subl    %edi, %ecx
    rep movsb

    /* Record the reset TSC for the boot-time report. */
    movl    %ebx, boot_tsc
    movl    %ebp, boot_tsc + 4

    /*
     * Boot page tables (7 pages in .bss, zeroed above):
     *   PML4[0]   -> PDPT_LO, PDPT_LO[0..4]   -> PD0..PD3  (identity 0..4 GiB)
     *   PML4[511] -> PDPT_HI, PDPT_HI[508..512] -> PD0..PD3 (0xFFFFFFFF_00000000 + phys)
     *   PD0..PD3: 2048 entries of 2 MiB pages, present + writable.
     * Rust replaces these with the final W^X tables as soon as it knows the memory map.
     */
    movl    $boot_pdpt_lo, %eax
    orl     $0x3, %eax
    movl    %eax, boot_pml4
    movl    $boot_pdpt_hi, %eax
    orl     $0x3, %eax
    movl    %eax, boot_pml4 + 511 * 8

    xorl    %ecx, %ecx
1:  movl    %ecx, %eax
    shll    $12, %eax
    addl    $boot_pd, %eax
    orl     $0x3, %eax
    movl    %eax, boot_pdpt_lo(, %ecx, 8)
    movl    %eax, boot_pdpt_hi + 508 * 8(, %ecx, 8)
    incl    %ecx
    cmpl    $4, %ecx
    jne     1b

    xorl    %ecx, %ecx
2:  movl    %ecx, %eax
    shll    $21, %eax
    orl     $0x83, %eax               /* present | writable | 2 MiB page */
    movl    %eax, boot_pd(, %ecx, 8)
    movl    %ecx, %eax
    shrl    $11, %eax                 /* bits 32.. of the physical address */
    movl    %eax, boot_pd + 4(, %ecx, 8)
    incl    %ecx
    cmpl    $2048, %ecx
    jne     2b

    /* CR4: PAE | OSFXSR | OSXMMEXCPT (SSE usable by Rust code from the first instruction). */
    movl    $0x620, %eax
    movl    %eax, %cr4
    movl    $boot_pml4, %eax
    movl    %eax, %cr3
    /* EFER: LME | NXE. */
    movl    $0xC0000080, %ecx
    rdmsr
    orl     $0x900, %eax
    wrmsr
    /* CR0: PE | MP | ET | NE | WP | PG (EM and TS clear: FPU/SSE enabled). */
    movl    $0x80010033, %eax
    movl    %eax, %cr0
    ljmpl   $0x18, $long_mode_start

/* ------------------------------------------------------------------------------------------ */
    .code64
long_mode_start:
    movw    $0x10, %ax
    movw    %ax, %ds
    movw    %ax, %es
    movw    %ax, %ss
    xorl    %eax, %eax
    movw    %ax, %fs
    movw    %ax, %gs
    movabsq $__boot_stack_top, %rsp
    xorl    %ebp, %ebp
    fninit
    movabsq $kernel_entry, %rax
    callq   *%rax
3:  cli
    hlt
    jmp     3b

/* ------------------------------------------------------------------------------------------ */
/* Boot GDT: 0x08 flat 32-bit code, 0x10 flat data, 0x18 64-bit code (accessed bits preset so the
 * CPU never writes to the read-only image). */
    .balign 16
boot_gdt:
    .quad   0
    .quad   0x00CF9B000000FFFF
    .quad   0x00CF93000000FFFF
    .quad   0x00AF9B000000FFFF
boot_gdt_end:
boot_gdt_ptr:
    .word   boot_gdt_end - boot_gdt - 1
    .long   boot_gdt

/* ------------------------------------------------------------------------------------------ */
/* The bundle descriptor (docs/image.md): all zeros = no bundle; `elastic build` patches it. */
    .section .boot.bundle_descriptor, "a"
    .zero 128

/* ------------------------------------------------------------------------------------------ */
/* The reset vector: the linker script places this section at 0xFFFFFFF0. */
    .section .boot.reset, "ax"
    .code16
    .global reset_vector
reset_vector:
    jmp     real_mode_start
    .balign 16, 0xCC

    .code64
