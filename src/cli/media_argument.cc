#include "cli/media_argument.h"

#include <cctype>
#include <fstream>
#include <sstream>

#include "media/media_loader.h"

namespace eric::cli {

namespace {
// "scheme:" prefix of at least two characters ("C:" style and bare names are paths).
bool is_url(const std::string& s) {
  const auto colon = s.find(':');
  if (colon == std::string::npos || colon < 2) return false;
  for (size_t i = 0; i < colon; ++i) {
    const char c = s[i];
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '-' || c == '.')) return false;
  }
  return true;
}
}  // namespace

Result<std::string> read_media_argument(const std::string& path_or_url) {
  if (is_url(path_or_url)) {
    media::MediaLoader loader(media::MediaLoaderOptions{});
    ERIC_ASSIGN_OR_RETURN(media::LoadedMedia loaded, loader.load(path_or_url));
    return std::move(loaded.bytes);
  }
  std::ifstream in(path_or_url, std::ios::binary);
  if (!in) return NotFound("cannot open image file '{}'", path_or_url);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) return IoError("error reading image file '{}'", path_or_url);
  return ss.str();
}

}  // namespace eric::cli
