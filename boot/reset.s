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

/* Application processors of an SEV-ES/SNP launch start here (SEV-ES reset block below).
 * Elastic runs on one vCPU, so any other vCPU parks with interrupts off. */
ap_park:
    cli
    hlt
    jmp     ap_park

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
/* SEV-SNP launch metadata (docs/snp.md; facts: shared/design/snp-facts.md section 12).
 * The linker script places this section at offset 0xE80 of the boot page.
 *
 * 0xE80: "ASEV" metadata, the memory QEMU/the PSP prepares before the first instruction:
 *   - 0x100000..0x800000  SNP_SEC_MEM: the kernel's RAM image (boot page tables, stacks,
 *                         .data/.bss), pre-validated and zeroed, so boot/reset.s may touch it
 *   - 0x800000            SECRETS page (VMPCKs, filled by the PSP)
 *   - 0x801000            CPUID page (validated CPUID answers)
 *   - 0x802000            SNP_SEC_MEM: the GHCB page (made shared by the kernel)
 * 0xFA2..0xFE0: the OVMF-style GUIDed table, ending at 4 GiB - 0x20, walked backwards from
 *   its footer: SEV-ES reset block (where APs start), SEV metadata offset (4 GiB - 0xFFFFFE80). */
    .section .boot.footer, "a"
sev_metadata:
    .ascii  "ASEV"
    .long   sev_metadata_end - sev_metadata     /* length */
    .long   1                                   /* version */
    .long   4                                   /* number of sections */
    .long   0x100000, 0x700000, 1               /* gpa, size, type 1 = SNP_SEC_MEM */
    .long   0x800000, 0x1000, 2                 /* type 2 = SNP_SECRETS */
    .long   0x801000, 0x1000, 3                 /* type 3 = CPUID */
    .long   0x802000, 0x1000, 1                 /* the GHCB page */
sev_metadata_end:

    .org    0x122                               /* the table ends at 0xFE0 of the page */
guided_table:
    /* SEV-ES reset block: u32 AP reset address, u16 entry length, GUID
     * 00f771de-1a7e-4fcb-890e-68c77e2fb44e */
    .long   ap_park
    .word   22
    .byte   0xde, 0x71, 0xf7, 0x00, 0x7e, 0x1a, 0xcb, 0x4f, 0x89, 0x0e, 0x68, 0xc7, 0x7e, 0x2f, 0xb4, 0x4e
    /* SEV metadata offset: u32 (4 GiB - address of sev_metadata), u16 length, GUID
     * dc886566-984a-4798-a75e-5585a7bf67cc */
    .long   0x180
    .word   22
    .byte   0x66, 0x65, 0x88, 0xdc, 0x4a, 0x98, 0x98, 0x47, 0xa7, 0x5e, 0x55, 0x85, 0xa7, 0xbf, 0x67, 0xcc
    /* Footer: u16 length of the whole table, GUID 96b582de-1fb2-45f7-baea-a366c55a082d */
    .word   guided_table_end - guided_table
    .byte   0xde, 0x82, 0xb5, 0x96, 0xb2, 0x1f, 0xf7, 0x45, 0xba, 0xea, 0xa3, 0x66, 0xc5, 0x5a, 0x08, 0x2d
guided_table_end:

/* ------------------------------------------------------------------------------------------ */
/* The reset vector: the linker script places this section at 0xFFFFFFF0. */
    .section .boot.reset, "ax"
    .code16
    .global reset_vector
reset_vector:
    jmp     real_mode_start
    .balign 16, 0xCC

    .code64
