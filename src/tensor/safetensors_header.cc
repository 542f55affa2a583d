#include "tensor/safetensors_header.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

namespace eric {

namespace {

using json = nlohmann::json;

// Element size of every dtype the safetensors format defines, including
// those eric reads only as opaque bytes.
std::optional<uint64_t> safetensors_element_size(std::string_view name) {
  static const std::pair<std::string_view, uint64_t> kSizes[] = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"I16", 2}, {"U16", 2}, {"F16", 2},
      {"BF16", 2}, {"I32", 4}, {"U32", 4}, {"F32", 4},     {"F64", 8},     {"I64", 8}, {"U64", 8}};
  for (const auto& [n, s] : kSizes) {
    if (n == name) return s;
  }
  return std::nullopt;
}

// Rejects nesting deeper than the format ever needs before handing the text
// to the JSON parser.
Status check_nesting(std::string_view text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') {
      if (++depth > 3) return DataLoss("safetensors header nests JSON deeper than the format allows");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  return Status::Ok();
}

Result<uint64_t> json_u64(const json& v, std::string_view what, std::string_view tensor) {
  if (!v.is_number_integer()) {
    return DataLoss("safetensors header: tensor '{}' has a non-integer {}", tensor, what);
  }
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  int64_t s = v.get<int64_t>();
  if (s < 0) return DataLoss("safetensors header: tensor '{}' has a negative {}", tensor, what);
  return static_cast<uint64_t>(s);
}

Result<SafetensorsEntry> parse_entry(const std::string& name, const json& v) {
  if (!v.is_object()) return DataLoss("safetensors header: entry '{}' is not a JSON object", name);
  for (const char* key : {"dtype", "shape", "data_offsets"}) {
    if (!v.contains(key)) return DataLoss("safetensors header: tensor '{}' has no '{}'", name, key);
  }
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") {
      return DataLoss("safetensors header: tensor '{}' has an unknown field '{}'", name, it.key());
    }
  }
  SafetensorsEntry e;
  e.name = name;
  const json& dt = v["dtype"];
  if (!dt.is_string()) return DataLoss("safetensors header: tensor '{}' dtype is not a string", name);
  e.dtype_name = dt.get<std::string>();
  auto elem = safetensors_element_size(e.dtype_name);
  if (!elem) return DataLoss("safetensors header: tensor '{}' has unknown dtype '{}'", name, e.dtype_name);
  auto known = dtype_from_safetensors_name(e.dtype_name);
  if (known.ok()) e.dtype = *known;

  const json& shape = v["shape"];
  if (!shape.is_array()) return DataLoss("safetensors header: tensor '{}' shape is not an array", name);
  if (shape.size() > 16) return DataLoss("safetensors header: tensor '{}' has rank {} > 16", name, shape.size());
  std::vector<int64_t> dims;
  uint64_t numel = 1;
  bool overflow = false;
  for (const json& d : shape) {
    ERIC_ASSIGN_OR_RETURN(uint64_t dim, json_u64(d, "shape dimension", name));
    if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) overflow = true;
    if (dim != 0 && numel > std::numeric_limits<uint64_t>::max() / dim) overflow = true;
    if (!overflow) numel *= dim;
    dims.push_back(static_cast<int64_t>(dim));
  }
  if (overflow || numel > std::numeric_limits<uint64_t>::max() / *elem) {
    return DataLoss("safetensors header: tensor '{}' shape overflows the addressable size", name);
  }
  e.shape = Shape(std::move(dims));

  const json& offs = v["data_offsets"];
  if (!offs.is_array() || offs.size() != 2) {
    return DataLoss("safetensors header: tensor '{}' data_offsets must be [begin, end]", name);
  }
  ERIC_ASSIGN_OR_RETURN(e.begin, json_u64(offs[0], "data offset", name));
  ERIC_ASSIGN_OR_RETURN(e.end, json_u64(offs[1], "data offset", name));
  if (e.end < e.begin) {
    return DataLoss("safetensors header: tensor '{}' data_offsets end {} is before begin {}", name, e.end, e.begin);
  }
  if (e.end - e.begin != numel * *elem) {
    return DataLoss("safetensors header: tensor '{}' is {} {} ({} bytes) but its data_offsets span {} bytes",
                    name, e.dtype_name, e.shape.to_string(), numel * *elem, e.end - e.begin);
  }
  return e;
}

}  // namespace

const SafetensorsEntry* SafetensorsHeader::find(std::string_view name) const {
  auto it = index.find(std::string(name));
  return it == index.end() ? nullptr : &entries[it->second];
}

Result<SafetensorsHeader> parse_safetensors_header(const uint8_t* data, size_t available, uint64_t file_size) {
  if (available < 8 || file_size < 8) {
    return DataLoss("safetensors file is {} bytes, too short for the 8-byte header length", file_size);
  }
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxSafetensorsHeaderBytes) {
    return DataLoss("safetensors header length {} exceeds the limit of {} bytes", n, kMaxSafetensorsHeaderBytes);
  }
  if (n > file_size - 8) {
    return DataLoss("safetensors header length {} runs past the end of the {}-byte file", n, file_size);
  }
  if (n > available - 8) return DataLoss("safetensors header is truncated");
  if (n < 2) return DataLoss("safetensors header of {} bytes is too short for a JSON object", n);
  std::string_view text(reinterpret_cast<const char*>(data + 8), static_cast<size_t>(n));
  if (text.front() != '{') return DataLoss("safetensors header does not start with '{{'");
  ERIC_RETURN_IF_ERROR(check_nesting(text));

  // Parse, rejecting duplicate keys at the top level (nlohmann keeps the last
  // silently, which would let two entries claim the same name).
  std::set<std::string> top_keys;
  std::string duplicate;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::key && depth == 1) {
      const auto& k = parsed.get_ref<const std::string&>();
      if (!top_keys.insert(k).second && duplicate.empty()) duplicate = k;
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& ex) {
    return DataLoss("safetensors header is not valid JSON: {}", ex.what());
  }
  if (!duplicate.empty()) return DataLoss("safetensors header names tensor '{}' twice", duplicate);
  if (!header.is_object()) return DataLoss("safetensors header is not a JSON object");

  SafetensorsHeader out;
  out.header_size = n;
  out.data_offset = 8 + n;
  const uint64_t data_size = file_size - out.data_offset;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) return DataLoss("safetensors __metadata__ is not a JSON object");
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) {
          return DataLoss("safetensors __metadata__ value for '{}' is not a string", m.key());
        }
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (it.key().empty()) return DataLoss("safetensors header has a tensor with an empty name");
    ERIC_ASSIGN_OR_RETURN(SafetensorsEntry e, parse_entry(it.key(), it.value()));
    if (e.end > data_size) {
      return DataLoss("safetensors tensor '{}' data_offsets [{}, {}] run past the {}-byte data buffer", e.name,
                      e.begin, e.end, data_size);
    }
    out.entries.push_back(std::move(e));
  }
  std::sort(out.entries.begin(), out.entries.end(), [](const SafetensorsEntry& a, const SafetensorsEntry& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  // Byte ranges must tile the data buffer exactly: no overlap, no gap.
  uint64_t expected = 0;
  for (size_t i = 0; i < out.entries.size(); ++i) {
    const auto& e = out.entries[i];
    if (e.begin < expected) {
      return DataLoss("safetensors tensors '{}' and '{}' overlap in the data buffer", out.entries[i - 1].name,
                      e.name);
    }
    if (e.begin > expected) {
      return DataLoss("safetensors data buffer has a gap of {} bytes before tensor '{}'", e.begin - expected,
                      e.name);
    }
    expected = e.end;
    out.index[e.name] = i;
  }
  if (expected != data_size) {
    return DataLoss("safetensors data buffer is {} bytes but the tensors describe {}", data_size, expected);
  }
  return out;
}

}  // namespace eric
