/*
 * elastic_snp.h: Elastic's `elastic_snp` host module for C guests (wasm32-wasi, clang or
 * `zig cc --target=wasm32-wasi`). AMD SEV-SNP attestation: reports, the host's certificate
 * table, derived keys, clock trust. The ABI is described in docs/guest-api.md
 * ("elastic_snp host module"); guests/elastic-snp-guest is the Rust equivalent.
 *
 * Every function except elastic_snp_is_snp and elastic_snp_clock_trust returns a WASI errno:
 * 0 on success, else one of the ELASTIC_SNP_E* values below (the same numbers as wasi-libc's
 * ENOTSUP, EFAULT, EINVAL, ERANGE, EAGAIN, EIO).
 */
#ifndef ELASTIC_SNP_H
#define ELASTIC_SNP_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes. */
#define ELASTIC_SNP_REPORT_SIZE 1184u      /* raw attestation report (0x4A0) */
#define ELASTIC_SNP_REPORT_DATA_SIZE 64u   /* caller data bound into a report */
#define ELASTIC_SNP_DERIVED_KEY_SIZE 32u

/* Errors (WASI errno numbers). */
#define ELASTIC_SNP_OK 0
#define ELASTIC_SNP_EAGAIN 6    /* the AMD secure processor stayed busy */
#define ELASTIC_SNP_EFAULT 21   /* a pointer/length outside linear memory */
#define ELASTIC_SNP_EINVAL 28   /* vmpl > 3, reserved field bits, or refused by the PSP */
#define ELASTIC_SNP_EIO 29      /* the request to the PSP failed */
#define ELASTIC_SNP_ENOTSUP 58  /* not an SEV-SNP guest (plain QEMU, `elastic run`) */
#define ELASTIC_SNP_ERANGE 68   /* buffer too small: *out_written holds the size needed */

/* GUEST_FIELD_SELECT bits for elastic_snp_derived_key (AMD 56860 MSG_KEY_REQ). */
#define ELASTIC_SNP_FIELD_POLICY (1ull << 0)
#define ELASTIC_SNP_FIELD_IMAGE_ID (1ull << 1)
#define ELASTIC_SNP_FIELD_FAMILY_ID (1ull << 2)
#define ELASTIC_SNP_FIELD_MEASUREMENT (1ull << 3)
#define ELASTIC_SNP_FIELD_GUEST_SVN (1ull << 4)
#define ELASTIC_SNP_FIELD_TCB_VERSION (1ull << 5)
#define ELASTIC_SNP_FIELD_LAUNCH_MIT_VECTOR (1ull << 6)

/* elastic_snp_clock_trust results. */
#define ELASTIC_SNP_CLOCK_UNTRUSTED 0   /* not SNP: the host controls time */
#define ELASTIC_SNP_CLOCK_HYPERVISOR 1  /* SNP, hypervisor-controlled TSC */
#define ELASTIC_SNP_CLOCK_SECURE_TSC 2  /* SNP Secure TSC */

#define ELASTIC_SNP_IMPORT(name) \
    __attribute__((import_module("elastic_snp"), import_name(name)))

/* 1 if Elastic runs as an AMD SEV-SNP guest, else 0. */
ELASTIC_SNP_IMPORT("is_snp")
int32_t elastic_snp_is_snp(void);

/*
 * Writes the raw attestation report binding the 64 bytes at report_data, requested for
 * vmpl (0..3), to out (out_len bytes, at least ELASTIC_SNP_REPORT_SIZE) and its size to
 * *out_written. A smaller buffer gives ELASTIC_SNP_ERANGE with the size needed in
 * *out_written.
 */
ELASTIC_SNP_IMPORT("attestation_report")
int32_t elastic_snp_attestation_report(const uint8_t *report_data, uint32_t vmpl,
                                       uint8_t *out, size_t out_len, size_t *out_written);

/*
 * Writes the host's certificate table (24-byte GUID/offset/length entries ending with an
 * all-zero entry, then the certificates) to out and its size to *out_written; 0 bytes if the
 * host supplied none. Too small: ELASTIC_SNP_ERANGE and the size needed in *out_written
 * (call with out_len 0 to learn the size).
 */
ELASTIC_SNP_IMPORT("certificates")
int32_t elastic_snp_certificates(uint8_t *out, size_t out_len, size_t *out_written);

/*
 * Writes a 32-byte key derived by the AMD PSP from the launch fields selected by
 * field_select (ELASTIC_SNP_FIELD_* bits) to out.
 */
ELASTIC_SNP_IMPORT("derived_key")
int32_t elastic_snp_derived_key(uint64_t field_select, uint8_t *out);

/* One of ELASTIC_SNP_CLOCK_*. */
ELASTIC_SNP_IMPORT("clock_trust")
int32_t elastic_snp_clock_trust(void);

#undef ELASTIC_SNP_IMPORT

#ifdef __cplusplus
}
#endif

#endif /* ELASTIC_SNP_H */
