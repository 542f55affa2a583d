// Status and Result<T>: the error type used across every eric module.
// Errors travel as values; no exception crosses a module boundary.
#pragma once

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace eric {

enum class ErrorCode {
  kOk = 0,
  kInvalidArgument,    // caller passed something wrong (bad option, bad request)
  kNotFound,           // file, tensor, model or key missing
  kOutOfRange,         // index or size outside allowed bounds
  kDataLoss,           // malformed / corrupt / truncated input data
  kIoError,            // operating-system I/O failure
  kPermissionDenied,   // policy forbids the operation (URL policy, allow-list)
  kResourceExhausted,  // a configured limit was exceeded
  kUnimplemented,      // feature or format not supported
  kUnavailable,        // service or device not (yet) available
  kDeadlineExceeded,   // timed out
  kInternal,           // a bug or an unexpected failure
};

std::string_view error_code_name(ErrorCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(ErrorCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }

  bool ok() const { return code_ == ErrorCode::kOk; }
  ErrorCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "DataLoss: safetensors header ..." (or "OK").
  std::string to_string() const;

  // Returns a copy whose message is "<context>: <message>".
  Status with_context(std::string_view context) const;

 private:
  ErrorCode code_ = ErrorCode::kOk;
  std::string message_;
};

template <typename... Args>
Status make_error(ErrorCode code, fmt::format_string<Args...> f, Args&&... args) {
  return Status(code, fmt::format(f, std::forward<Args>(args)...));
}

#define ERIC_DEFINE_ERROR_FACTORY(Name, Code)                                     \
  template <typename... Args>                                                     \
  Status Name(fmt::format_string<Args...> f, Args&&... args) {                    \
    return Status(ErrorCode::Code, fmt::format(f, std::forward<Args>(args)...)); \
  }
ERIC_DEFINE_ERROR_FACTORY(InvalidArgument, kInvalidArgument)
ERIC_DEFINE_ERROR_FACTORY(NotFound, kNotFound)
ERIC_DEFINE_ERROR_FACTORY(OutOfRange, kOutOfRange)
ERIC_DEFINE_ERROR_FACTORY(DataLoss, kDataLoss)
ERIC_DEFINE_ERROR_FACTORY(IoError, kIoError)
ERIC_DEFINE_ERROR_FACTORY(PermissionDenied, kPermissionDenied)
ERIC_DEFINE_ERROR_FACTORY(ResourceExhausted, kResourceExhausted)
ERIC_DEFINE_ERROR_FACTORY(Unimplemented, kUnimplemented)
ERIC_DEFINE_ERROR_FACTORY(Unavailable, kUnavailable)
ERIC_DEFINE_ERROR_FACTORY(DeadlineExceeded, kDeadlineExceeded)
ERIC_DEFINE_ERROR_FACTORY(Internal, kInternal)
#undef ERIC_DEFINE_ERROR_FACTORY

// Result<T> holds either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (std::get<Status>(v_).ok()) {
      v_ = Status(ErrorCode::kInternal, "Result constructed from an OK status");
    }
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }

  T& value() & { check(); return std::get<T>(v_); }
  const T& value() const& { check(); return std::get<T>(v_); }
  T&& value() && { check(); return std::get<T>(std::move(v_)); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  void check() const {
    if (!ok()) {
      std::fprintf(stderr, "eric: value() called on an error Result: %s\n",
                   std::get<Status>(v_).to_string().c_str());
      std::abort();
    }
  }
  std::variant<T, Status> v_;
};

// Aborts with a message when a programming invariant is broken. Not for user
// input: user input errors are returned as Status.
[[noreturn]] void check_failed(const char* file, int line, const char* expr, const std::string& msg);

}  // namespace eric

#define ERIC_CONCAT_INNER(a, b) a##b
#define ERIC_CONCAT(a, b) ERIC_CONCAT_INNER(a, b)

#define ERIC_RETURN_IF_ERROR(expr)                 \
  do {                                             \
    ::eric::Status eric_status_ = (expr);          \
    if (!eric_status_.ok()) return eric_status_;   \
  } while (0)

#define ERIC_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                               \
  if (!tmp.ok()) return tmp.status();              \
  lhs = std::move(tmp).value()

#define ERIC_ASSIGN_OR_RETURN(lhs, expr) \
  ERIC_ASSIGN_OR_RETURN_IMPL(ERIC_CONCAT(eric_result_, __LINE__), lhs, expr)

#define ERIC_CHECK(cond, ...)                                                        \
  do {                                                                               \
    if (!(cond)) ::eric::check_failed(__FILE__, __LINE__, #cond, fmt::format(__VA_ARGS__)); \
  } while (0)
