// data: URIs (RFC 2397), base64 form only: "data:<mime>[;param]*;base64,<payload>".
// The payload is checked against the size cap from its length alone, before
// any decoding, and decoded strictly (media/base64.h).
#include <algorithm>
#include <cctype>

#include "media/base64.h"
#include "media/loader_parts.h"

namespace eric::media {
namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

struct DataUriParts {
  std::string mime_type;
  std::string_view payload;
};

Result<DataUriParts> split_data_uri(std::string_view uri) {
  if (!starts_with_ci(uri, "data:")) return InvalidArgument("not a data: URI: {}", describe_url(uri));
  const size_t comma = uri.find(',');
  if (comma == std::string_view::npos) {
    return InvalidArgument("data: URI has no ',' before its payload: {}", describe_url(uri));
  }
  std::string_view header = uri.substr(5, comma - 5);
  constexpr std::string_view kBase64 = ";base64";
  if (header.size() < kBase64.size() || !starts_with_ci(header.substr(header.size() - kBase64.size()), kBase64)) {
    return Unimplemented("data: URI is not base64-encoded (';base64' missing before ','): {}", describe_url(uri));
  }
  header.remove_suffix(kBase64.size());
  DataUriParts parts;
  const std::string_view mime = header.substr(0, header.find(';'));
  parts.mime_type.reserve(mime.size());
  for (char ch : mime) parts.mime_type += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  parts.payload = uri.substr(comma + 1);
  return parts;
}

Status check_size(int64_t decoded, int64_t max_bytes, std::string_view what) {
  if (decoded > max_bytes) {
    return ResourceExhausted("{} would decode to {} bytes, above the limit of {} bytes", what, decoded, max_bytes);
  }
  return Status::Ok();
}

}  // namespace

Result<LoadedMedia> load_data_uri(std::string_view uri, int64_t max_bytes) {
  ERIC_ASSIGN_OR_RETURN(DataUriParts parts, split_data_uri(uri));
  if (parts.payload.empty()) return DataLoss("data: URI has an empty payload");
  ERIC_RETURN_IF_ERROR(check_size(base64_decoded_size(parts.payload), max_bytes, "data: URI payload"));
  auto bytes = base64_decode(parts.payload);
  if (!bytes.ok()) return bytes.status().with_context("data: URI payload");
  return LoadedMedia{std::move(bytes).value(), std::move(parts.mime_type)};
}

Result<std::vector<std::string>> MediaLoader::split_jpeg_frame_list(std::string_view data_uri, int64_t max_bytes) {
  ERIC_ASSIGN_OR_RETURN(DataUriParts parts, split_data_uri(data_uri));
  if (parts.mime_type != "video/jpeg") {
    return InvalidArgument("JPEG frame list must be a data:video/jpeg;base64 URI, got media type '{}'",
                           parts.mime_type);
  }
  std::vector<std::string_view> frames;
  int64_t total = 0;
  std::string_view rest = parts.payload;
  for (;;) {
    const size_t comma = rest.find(',');
    frames.push_back(rest.substr(0, comma));
    total += base64_decoded_size(frames.back());
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
  ERIC_RETURN_IF_ERROR(check_size(total, max_bytes, "JPEG frame list"));
  std::vector<std::string> out;
  out.reserve(frames.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    if (frames[i].empty()) return DataLoss("JPEG frame list: frame {} of {} is empty", i, frames.size());
    auto frame = base64_decode(frames[i]);
    if (!frame.ok()) return frame.status().with_context(fmt::format("JPEG frame list: frame {}", i));
    out.push_back(std::move(frame).value());
  }
  return out;
}

}  // namespace eric::media
