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

    /* A stack for the #VC handler below (the boot stack, in pre-validated RAM). */
    movl    $__boot_stack_top, %esp

    /*
     * SEV detection (docs/snp.md "Boot flow"), without faulting anywhere else: CPUID
     * Fn8000_0000 and Fn8000_001F first, SEV_STATUS (MSR 0xC001_0131) only when they report
     * SEV. Under SEV-ES/SNP each CPUID raises #VC, which `vc32_cpuid` answers through the
     * GHCB MSR protocol: those answers come from the hypervisor and only decide whether
     * SEV_STATUS may be read; the kernel then checks everything against SEV_STATUS (hardware)
     * and the PSP-validated CPUID page. Result: ESI = the C-bit mask for the high dword of a
     * page-table entry (0 without SNP); boot_sev_status = SEV_STATUS (0 without SEV).
     */
    movl    $vc32_cpuid, %eax
    movw    %ax, boot_idt32 + 29 * 8            /* offset 15:0 */
    movw    $0x08, boot_idt32 + 29 * 8 + 2      /* 32-bit code selector */
    movw    $0x8E00, boot_idt32 + 29 * 8 + 4    /* present, 32-bit interrupt gate */
    shrl    $16, %eax
    movw    %ax, boot_idt32 + 29 * 8 + 6        /* offset 31:16 */
    lidtl   boot_idt32_ptr
    xorl    %esi, %esi
    movl    $0x80000000, %eax
    cpuid
    cmpl    $0x8000001F, %eax
    jb      sev_done
    movl    $0x8000001F, %eax
    cpuid
    testl   $0x2, %eax                          /* SEV */
    jz      sev_done
    movl    $0xC0010131, %ecx
    rdmsr
    movl    %eax, boot_sev_status
    movl    %edx, boot_sev_status + 4
    testl   $0x4, %eax                          /* SNP active */
    jnz     sev_snp
    testl   $0x2, %eax                          /* SEV-ES: terminate, "SNP unsupported" */
    movl    $0x20100, %eax
    jnz     vc32_terminate
    /* SEV without ES: no GHCB, but port I/O works: exit code 112 (platform). */
    movw    $0xF4, %dx
    movl    $113, %eax
    outl    %eax, %dx
    jmp     boot_halt32
sev_snp:
    /* C-bit 51 (bit 19 of the high dword), the position on every SNP-capable EPYC; the
     * kernel terminates unless the CPUID page says the same. */
    movl    $(1 << (51 - 32)), %esi
sev_done:

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
    orl     %esi, %eax                /* the C-bit under SNP */
    movl    %eax, boot_pd + 4(, %ecx, 8)
    incl    %ecx
    cmpl    $2048, %ecx
    jne     2b

    /* 8..10 MiB in 4 KiB pages (boot_pt_snp), so the kernel can share single pages there
     * (the GHCB and guest-request pages) before its final page tables exist. */
    movl    $boot_pt_snp, %eax
    orl     $0x3, %eax
    movl    %eax, boot_pd + 4 * 8
    movl    $0, boot_pd + 4 * 8 + 4
    xorl    %ecx, %ecx
4:  movl    %ecx, %eax
    shll    $12, %eax
    addl    $0x800003, %eax           /* present | writable */
    movl    %eax, boot_pt_snp(, %ecx, 8)
    movl    %esi, boot_pt_snp + 4(, %ecx, 8)
    incl    %ecx
    cmpl    $512, %ecx
    jne     4b

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
    .code32
/*
 * #VC in 32-bit mode (only CPUID runs before the kernel's own handler): answers CPUID leaf
 * EAX through the GHCB MSR protocol (request 0x004, one register per exit; AMD 56421
 * section 2.3.1), checks each response, and resumes after the 2-byte CPUID. Anything else
 * terminates (MSR protocol 0x100).
 */
vc32_cpuid:
    cmpl    $0x72, (%esp)                       /* SVM_EXIT_CPUID */
    je      1f
    movl    $0x72100, %eax                      /* set 2 code 7: unhandled #VC */
    jmp     vc32_terminate
1:
    pushl   %esi
    pushl   %edi
    pushl   %ebp
    movl    %eax, %esi                          /* leaf */
    xorl    %edi, %edi
    call    vc32_msr_cpuid
    movl    %edx, %ebp                          /* EAX */
    movl    $0x40000000, %edi
    call    vc32_msr_cpuid
    movl    %edx, %ebx                          /* EBX */
    movl    $0x80000000, %edi
    call    vc32_msr_cpuid
    pushl   %edx                                /* ECX */
    movl    $0xC0000000, %edi
    call    vc32_msr_cpuid                      /* EDX */
    popl    %ecx
    movl    %ebp, %eax
    popl    %ebp
    popl    %edi
    popl    %esi
    addl    $4, %esp                            /* the error code */
    addl    $2, (%esp)                          /* past CPUID (0F A2) */
    iretl

/* One MSR-protocol CPUID exit: leaf ESI, register EDI (bits 31:30); value in EDX. */
vc32_msr_cpuid:
    movl    $0xC0010130, %ecx
    movl    %edi, %eax
    orl     $0x004, %eax
    movl    %esi, %edx
    wrmsr
    .byte   0xF3, 0x0F, 0x01, 0xD9              /* VMGEXIT (rep vmmcall) */
    movl    $0xC0010130, %ecx
    rdmsr
    leal    0x005(%edi), %ecx                   /* expected: 0x005 | register, [29:12] = 0 */
    cmpl    %ecx, %eax
    movl    $0x32100, %eax                      /* set 2 code 3: invalid GHCB response */
    jne     vc32_terminate
    ret

/* Termination request with reason EAX (MSR protocol 0x100), then halt. */
vc32_terminate:
    movl    $0xC0010130, %ecx
    xorl    %edx, %edx
    wrmsr
    .byte   0xF3, 0x0F, 0x01, 0xD9
boot_halt32:
    cli
    hlt
    jmp     boot_halt32

    .code64
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
/* The 32-bit IDT (vectors 0..31, in .bss; only #VC is filled in). */
boot_idt32_ptr:
    .word   32 * 8 - 1
    .long   boot_idt32

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
