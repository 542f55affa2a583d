#include "embedding_compare.h"

#include <cmath>
#include <cstring>

#include "media/base64.h"

namespace eric::integration {

double relative_error(const nlohmann::json& embedding, const Tensor& ref) {
  auto bytes = media::base64_decode(embedding["data"].get<std::string>());
  if (!bytes.ok() || bytes->size() != ref.nbytes()) return INFINITY;
  const float* r = ref.data<float>();
  double num = 0, den = 0;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    float v;
    std::memcpy(&v, bytes->data() + i * 4, 4);
    num += (double(v) - r[i]) * (double(v) - r[i]);
    den += double(r[i]) * r[i];
  }
  return std::sqrt(num / den);
}

}  // namespace eric::integration
