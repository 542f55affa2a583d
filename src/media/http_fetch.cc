// http:// and https:// through libcurl, bounded in every dimension a remote
// server controls: connect and total time, body size (also when the
// Content-Length announces too much), redirects, and protocols (http/https
// only, also after redirects). Unless allow_private_network is set, every
// connection's RESOLVED address is checked in CURLOPT_OPENSOCKETFUNCTION,
// which runs for the first request and for each redirect, so a public name
// resolving to (or redirecting to) 127.0.0.1 or 10.x is refused. Proxies
// from the environment are disabled: through a proxy that check would see
// only the proxy's address.
#include <curl/curl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <mutex>

#include "media/address_policy.h"
#include "media/loader_parts.h"

namespace eric::media {
namespace {

struct Transfer {
  std::string body;
  int64_t max_bytes = 0;
  bool too_large = false;
  bool check_addresses = true;
  std::vector<NetworkRange> allowed;  // non-public blocks opened on purpose
  std::string blocked_address;  // the last refused address, for the message
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t n = size * count;
  if (static_cast<int64_t>(t->body.size() + n) > t->max_bytes) {
    t->too_large = true;
    return 0;  // aborts the transfer with CURLE_WRITE_ERROR
  }
  t->body.append(data, n);
  return n;
}

curl_socket_t on_open_socket(void* user, curlsocktype purpose, curl_sockaddr* address) {
  auto* t = static_cast<Transfer*>(user);
  if (t->check_addresses && is_blocked_address(&address->addr) && !in_networks(&address->addr, t->allowed)) {
    t->blocked_address = address_to_string(&address->addr);
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

int on_close_socket(void*, curl_socket_t socket) { return close(socket); }

void init_curl_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

Result<LoadedMedia> fetch_http(std::string_view url, const MediaLoaderOptions& options) {
  init_curl_once();
  std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), &curl_easy_cleanup);
  if (!curl) return Internal("curl_easy_init failed");
  CURL* c = curl.get();
  Transfer t;
  t.max_bytes = options.max_bytes;
  t.check_addresses = !options.allow_private_network;
  for (const std::string& network : options.allowed_networks) {
    auto range = parse_network(network);
    if (!range.ok()) return range.status().with_context("allowed media network");
    t.allowed.push_back(*range);
  }
  const std::string url_string(url);
  char error_buffer[CURL_ERROR_SIZE] = {0};

  curl_easy_setopt(c, CURLOPT_URL, url_string.c_str());
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt(c, CURLOPT_MAXREDIRS, static_cast<long>(options.max_redirects));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout_ms));
  curl_easy_setopt(c, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(options.max_bytes));
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");  // gzip/deflate bodies arrive decoded
  curl_easy_setopt(c, CURLOPT_USERAGENT, "eric-media-loader/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &t);
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
  curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, &t);

  const CURLcode code = curl_easy_perform(c);
  const std::string what = describe_url(url);
  if (code != CURLE_OK) {
    const std::string detail = error_buffer[0] ? error_buffer : curl_easy_strerror(code);
    if (!t.blocked_address.empty() && (code == CURLE_COULDNT_CONNECT || code == CURLE_COULDNT_RESOLVE_HOST)) {
      return PermissionDenied(
          "fetching {} refused: it resolves to the non-public address {} (loopback, private, link-local or "
          "multicast); such targets need the allow-private-network option",
          what, t.blocked_address);
    }
    if (t.too_large || code == CURLE_FILESIZE_EXCEEDED) {
      return ResourceExhausted("fetching {} refused: the response is larger than the limit of {} bytes "
                               "(--max-download-bytes)",
                               what, options.max_bytes);
    }
    switch (code) {
      case CURLE_WRITE_ERROR:
        return IoError("fetching {} failed: {}", what, detail);
      case CURLE_OPERATION_TIMEDOUT:
        return DeadlineExceeded("fetching {} timed out (limits --download-connect-timeout-ms {}, "
                                "--download-timeout-ms {}): {}",
                                what, options.connect_timeout_ms, options.total_timeout_ms, detail);
      case CURLE_TOO_MANY_REDIRECTS:
        // The remote's doing, not a size the client chose: a 400, not a 413.
        return InvalidArgument("fetching {} followed more than {} redirects", what, options.max_redirects);
      case CURLE_UNSUPPORTED_PROTOCOL:
        return PermissionDenied("fetching {} refused: only http and https are allowed (also for redirects): {}",
                                what, detail);
      case CURLE_COULDNT_RESOLVE_HOST:
        return NotFound("fetching {} failed: cannot resolve the host: {}", what, detail);
      default:
        return Unavailable("fetching {} failed: {}", what, detail);
    }
  }
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200 || status >= 300) {
    if (status == 404 || status == 410) return NotFound("fetching {} failed: HTTP status {}", what, status);
    return Unavailable("fetching {} failed: HTTP status {}", what, status);
  }
  LoadedMedia media;
  media.bytes = std::move(t.body);
  const char* content_type = nullptr;
  if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &content_type) == CURLE_OK && content_type != nullptr) {
    std::string_view type(content_type);
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.remove_suffix(1);
    media.mime_type = std::string(type);
  }
  return media;
}

}  // namespace eric::media
