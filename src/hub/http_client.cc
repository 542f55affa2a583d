#include "hub/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace eric::hub {

namespace {

void global_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transfer {
  HttpResponse* response = nullptr;
  std::FILE* file = nullptr;          // GET to file
  const std::string* path = nullptr;
  int64_t resume_from = 0;
  int64_t max_bytes = -1;             // GET to memory
  int64_t received = 0;
  bool file_prepared = false;
  bool write_failed = false;
  bool too_large = false;
  const ProgressFn* progress = nullptr;
};

size_t on_header(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    // A new response ("HTTP/1.1 206 Partial Content"); the status must be
    // known before the first body byte decides how the file is opened.
    t->response->headers.clear();
    auto sp = line.find(' ');
    if (sp != std::string::npos) t->response->status = std::strtol(line.c_str() + sp + 1, nullptr, 10);
    return size * n;
  }
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string value = line.substr(colon + 1);
    auto b = value.find_first_not_of(" \t");
    auto e = value.find_last_not_of(" \t\r\n");
    value = b == std::string::npos ? "" : value.substr(b, e - b + 1);
    t->response->headers[name] = value;
  }
  return size * n;
}

size_t on_body(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  size_t bytes = size * n;
  if (t->path != nullptr) {
    if (!t->file_prepared) {
      // Decide how to open the file only once the status is known.
      t->file_prepared = true;
      long code = t->response->status;
      if (code == 206 && t->resume_from > 0) {
        t->file = std::fopen(t->path->c_str(), "ab");
      } else if (code == 200) {
        t->file = std::fopen(t->path->c_str(), "wb");
      } else {
        t->file = nullptr;  // error body: discard
      }
      if ((code == 200 || code == 206) && t->file == nullptr) {
        t->write_failed = true;
        return 0;
      }
    }
    if (t->file != nullptr && std::fwrite(data, 1, bytes, t->file) != bytes) {
      t->write_failed = true;
      return 0;
    }
  } else {
    if (t->max_bytes >= 0 && static_cast<int64_t>(t->response->body.size() + bytes) > t->max_bytes) {
      t->too_large = true;
      return 0;
    }
    t->response->body.append(data, bytes);
  }
  t->received += static_cast<int64_t>(bytes);
  if (t->progress != nullptr && *t->progress && !(*t->progress)(t->received)) return 0;
  return bytes;
}

Result<HttpResponse> perform(const std::string& url, const HttpOptions& options, bool head, Transfer& t) {
  global_init_once();
  HttpResponse response;
  t.response = &response;
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Internal("curl_easy_init failed");
  curl_slist* headers = nullptr;
  for (const auto& h : options.headers) headers = curl_slist_append(headers, h.c_str());
  std::string range;
  if (t.resume_from > 0) {
    range = "Range: bytes=" + std::to_string(t.resume_from) + "-";
    headers = curl_slist_append(headers, range.c_str());
  }
  char error[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, options.connect_timeout_ms);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, options.low_speed_timeout_s);
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_USERAGENT, "eric/0.1 (huggingface_hub-compatible)");
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
  if (head) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
  }
  CURLcode rc = curl_easy_perform(curl);
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (t.file != nullptr) {
    if (std::fclose(t.file) != 0) t.write_failed = true;
    t.file = nullptr;
  }
  if (t.write_failed) return IoError("cannot write {}", t.path ? *t.path : std::string("download"));
  if (t.too_large) return ResourceExhausted("{}: response larger than {} bytes", url, t.max_bytes);
  if (rc != CURLE_OK) {
    return Unavailable("{}: {}", url, error[0] ? std::string(error) : std::string(curl_easy_strerror(rc)));
  }
  response.status = code;
  return response;
}

}  // namespace

std::string HttpResponse::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  return it == headers.end() ? std::string() : it->second;
}

Result<HttpResponse> http_head(const std::string& url, const HttpOptions& options) {
  Transfer t;
  return perform(url, options, /*head=*/true, t);
}

Result<HttpResponse> http_get_to_memory(const std::string& url, const HttpOptions& options, int64_t max_bytes) {
  Transfer t;
  t.max_bytes = max_bytes;
  return perform(url, options, /*head=*/false, t);
}

Result<HttpResponse> http_get_to_file(const std::string& url, const HttpOptions& options, const std::string& path,
                                      int64_t resume_from, const ProgressFn& progress) {
  Transfer t;
  t.path = &path;
  t.resume_from = resume_from;
  t.progress = &progress;
  return perform(url, options, /*head=*/false, t);
}

std::string url_quote(const std::string& s, bool keep_slash) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

}  // namespace eric::hub
