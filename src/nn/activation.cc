#include "nn/activation.h"

#include "backend/cpu/ops.h"

namespace eric::nn {

Result<Activation> activation_from_name(std::string_view name) {
  if (name == "quick_gelu") return Activation::kQuickGelu;
  if (name == "gelu") return Activation::kGeluErf;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_fast") return Activation::kGeluTanh;
  if (name == "silu" || name == "swish") return Activation::kSilu;
  return InvalidArgument("unsupported activation '{}' (supported: quick_gelu, gelu, gelu_pytorch_tanh, silu)", name);
}

std::string_view activation_name(Activation a) {
  switch (a) {
    case Activation::kQuickGelu: return "quick_gelu";
    case Activation::kGeluErf: return "gelu";
    case Activation::kGeluTanh: return "gelu_pytorch_tanh";
    case Activation::kSilu: return "silu";
  }
  return "?";
}

Status apply_activation_(Tensor& x, Activation a) {
  switch (a) {
    case Activation::kQuickGelu: return cpu::quick_gelu_(x);
    case Activation::kGeluErf: return cpu::gelu_erf_(x);
    case Activation::kGeluTanh: return cpu::gelu_tanh_(x);
    case Activation::kSilu: return cpu::silu_(x);
  }
  return InvalidArgument("unknown activation");
}

}  // namespace eric::nn
