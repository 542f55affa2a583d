// check.h — argument checks shared by the CPU ops, so every op reports the
// same kind of problem with the same wording: "<op>: <what> is <describe()>,
// expected ...".
#pragma once

#include <cstdint>
#include <string_view>

#include "common/status.h"
#include "tensor/tensor.h"

namespace eric::cpu {

// Defined, on the CPU, float32.
Status check_f32(const Tensor& t, std::string_view op, std::string_view what);
// check_f32 plus contiguous and writable: for outputs and in-place operands.
Status check_f32_inplace(const Tensor& t, std::string_view op, std::string_view what);
// Rank >= 1 and a last dimension of `cols` elements.
Status check_last_dim(const Tensor& t, int64_t cols, std::string_view op, std::string_view what);
// A rank-1 tensor of `n` elements (gamma, beta, bias).
Status check_vector(const Tensor& t, int64_t n, std::string_view op, std::string_view what);

// Product of all but the last dimension (1 for rank 0 or 1).
int64_t leading_rows(const Tensor& t);

// The float32 contiguous version of a read-only input: the tensor itself when
// it already is one, otherwise a copy.
Result<Tensor> contiguous_f32(const Tensor& t, std::string_view op, std::string_view what);

}  // namespace eric::cpu
