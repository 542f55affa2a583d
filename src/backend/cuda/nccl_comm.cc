#include "backend/cuda/nccl_comm.h"

#include <cmath>
#include <cstring>

#include "backend/cuda/cuda_error.h"

#if ERIC_HAVE_NCCL
#include <nccl.h>
#endif

namespace eric::cuda {

#if ERIC_HAVE_NCCL
namespace {
Status nccl_status(ncclResult_t r, std::string_view what) {
  if (r == ncclSuccess) return Status::Ok();
  const char* last = ncclGetLastError(nullptr);
  return Internal("NCCL {}: {}{}{}", what, ncclGetErrorString(r), last && *last ? ": " : "", last ? last : "");
}
}  // namespace

bool nccl_available() { return true; }

Result<NcclId> make_nccl_id() {
  ncclUniqueId uid;
  ERIC_RETURN_IF_ERROR(nccl_status(ncclGetUniqueId(&uid), "ncclGetUniqueId"));
  static_assert(sizeof(uid.internal) == sizeof(NcclId));
  NcclId id;
  std::memcpy(id.data(), uid.internal, id.size());
  return id;
}

Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(const NcclId& id, int rank, int world_size,
                                                                   int device) {
  if (world_size < 1 || rank < 0 || rank >= world_size) {
    return InvalidArgument("NCCL communicator: rank {} of world size {}", rank, world_size);
  }
  ERIC_CUDA_RETURN_IF_ERROR(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device));
  ncclUniqueId uid;
  std::memcpy(uid.internal, id.data(), id.size());
  ncclComm_t comm = nullptr;
  ERIC_RETURN_IF_ERROR(nccl_status(ncclCommInitRank(&comm, world_size, uid, rank),
                                   fmt::format("ncclCommInitRank(rank {} of {}, GPU {})", rank, world_size, device)));
  return std::unique_ptr<NcclCommunicator>(new NcclCommunicator(comm, rank, world_size, device));
}

NcclCommunicator::~NcclCommunicator() {
  if (comm_ != nullptr) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

Status NcclCommunicator::all_reduce_sum(DeviceTensor& tensor, cudaStream_t stream) {
  ncclDataType_t type;
  switch (tensor.dtype()) {
    case DType::kF32: type = ncclFloat32; break;
    case DType::kBF16: type = ncclBfloat16; break;
    default: return InvalidArgument("NCCL all_reduce_sum: {} tensors are not supported", dtype_name(tensor.dtype()));
  }
  if (tensor.device() != device_) {
    return InvalidArgument("NCCL all_reduce_sum: tensor on GPU {}, communicator on GPU {}", tensor.device(), device_);
  }
  Status st = nccl_status(ncclAllReduce(tensor.raw_data(), tensor.raw_data(), static_cast<size_t>(tensor.numel()),
                                        type, ncclSum, static_cast<ncclComm_t>(comm_), stream),
                          "ncclAllReduce");
  // A collective that failed part-way leaves the ranks out of step: the
  // communicator is not reusable, so the worker set must start afresh.
  if (!st.ok()) note_context_lost(st.with_context("the tensor-parallel communicator is unusable"));
  return st;
}
#else
namespace {
Status no_nccl() { return Unimplemented("this build of eric has no NCCL (tensor parallelism on CUDA needs it)"); }
}  // namespace

bool nccl_available() { return false; }
Result<NcclId> make_nccl_id() { return no_nccl(); }
Result<std::unique_ptr<NcclCommunicator>> NcclCommunicator::create(const NcclId&, int, int, int) { return no_nccl(); }
NcclCommunicator::~NcclCommunicator() = default;
Status NcclCommunicator::all_reduce_sum(DeviceTensor&, cudaStream_t) { return no_nccl(); }
#endif

Result<NcclId> exchange_nccl_id(int rank, const HostAllReduce& all_reduce,
                                const std::function<Result<NcclId>()>& make_id) {
  NcclId id{};
  if (rank == 0) {
    ERIC_ASSIGN_OR_RETURN(id, make_id());
  }
  std::vector<float> values(id.size(), 0.0f);
  if (rank == 0) {
    for (size_t i = 0; i < id.size(); ++i) values[i] = static_cast<float>(static_cast<unsigned char>(id[i]));
  }
  ERIC_RETURN_IF_ERROR(all_reduce(values));
  for (size_t i = 0; i < id.size(); ++i) {
    const float v = values[i];
    if (!(v >= 0.0f && v <= 255.0f) || v != std::floor(v)) {
      return Internal("NCCL id exchange: byte {} arrived as {} (more than one rank contributed an id?)", i, v);
    }
    id[i] = static_cast<char>(static_cast<unsigned char>(v));
  }
  return id;
}

}  // namespace eric::cuda
