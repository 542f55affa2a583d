/* libericsidecar: the consumer (and test-producer) side of eric's tensor
 * sidecar, as a small stable C ABI. See docs/sidecar.md.
 *
 * A handle is one connection to the local sidecar's control socket. A
 * consumer opens it with its LLM rank, then for each data id and chunk:
 * eric_sidecar_recv() blocks until the tensor is complete on this node (or the
 * timeout) and returns a read-only view into the shared-memory arena; the view
 * stays valid until eric_sidecar_mark_done() for it or eric_sidecar_close().
 * Calls on one handle are serialized; use one handle per thread for
 * concurrency.
 *
 * Every int-returning call returns 0 on success or an error code (eric's
 * ErrorCode numbering, e.g. ERIC_SIDECAR_TIMEOUT); eric_sidecar_last_error()
 * then describes the calling thread's last failure. */
#ifndef ERIC_SIDECAR_H_
#define ERIC_SIDECAR_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ERIC_SIDECAR_ABI_VERSION 1

#define ERIC_SIDECAR_OK 0
#define ERIC_SIDECAR_INVALID_ARGUMENT 1
#define ERIC_SIDECAR_NOT_FOUND 2
#define ERIC_SIDECAR_DATA_LOSS 4
#define ERIC_SIDECAR_RESOURCE_EXHAUSTED 7
#define ERIC_SIDECAR_UNAVAILABLE 9
#define ERIC_SIDECAR_TIMEOUT 10

typedef struct eric_sidecar eric_sidecar;

typedef struct {
  const void* data;      /* read-only, inside the arena */
  uint64_t nbytes;
  const char* dtype;     /* "F32", "BF16", "F16", "U8", "I32", "I64", "BOOL" */
  int32_t ndim;
  const int64_t* shape;  /* ndim dims */
} eric_sidecar_view;

int eric_sidecar_abi_version(void);

/* rank >= 0: consumer of that LLM rank; rank < 0: producer. */
int eric_sidecar_open(const char* socket_path, int32_t rank, int32_t timeout_ms, eric_sidecar** out);
int eric_sidecar_recv(eric_sidecar* h, const char* id, uint32_t chunk, int32_t timeout_ms, eric_sidecar_view* out);
int eric_sidecar_mark_done(eric_sidecar* h, const char* id, uint32_t chunk);
/* Producer: copies nbytes into the arena and returns once every receiver
 * group's sidecar acknowledged it. groups: ngroups runs of ranks, the i-th
 * of group_sizes[i] ranks, concatenated in `ranks`. */
int eric_sidecar_send(eric_sidecar* h, const char* id, uint32_t chunk, const char* dtype, const int64_t* shape,
                      int32_t ndim, const void* data, uint64_t nbytes, const int32_t* ranks,
                      const int32_t* group_sizes, int32_t ngroups, int32_t timeout_ms);
/* The sidecar's counters as JSON into buf (NUL-terminated, truncated to len). */
int eric_sidecar_stats(eric_sidecar* h, char* buf, size_t len);
void eric_sidecar_close(eric_sidecar* h);
const char* eric_sidecar_last_error(void);

#ifdef __cplusplus
}
#endif

#endif /* ERIC_SIDECAR_H_ */
