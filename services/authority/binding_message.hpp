#pragma once
// What an approver's device shows: the CIBA binding message, composed by
// the policy from bound parameters only, so that a requester cannot put
// free text on the approver's screen, and the short code that lets an
// approver match a prompt to a request.
//
// A message is 1-64 characters of A-Za-z0-9 +-_.,:# (what CIBA providers
// and Auth0 Guardian display; tools/dev-idp refuses anything else, as
// Auth0 does). It is the rule's template with each {name} replaced by the
// value of the top-level parameter `name`, then " #" and the approval's
// code. Everything that could make a message unsafe or too long is
// refused when the policy loads (BindingTemplate::Parse), so composing a
// message for parameters the policy accepted cannot fail or truncate.
//
// No I/O; unit-tested in tests/unit/authority/binding_message_test.cpp.

#include <bitset>
#include <cstddef>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "cantdo/authority/v1/authority_service.pb.h"

namespace cantdo::authority {

inline constexpr std::size_t kMaxBindingMessage = 64;
inline constexpr std::size_t kBindingCodeLength = 4;

// Whether every character of `text` may be shown in a binding message.
bool IsDisplayable(absl::string_view text);

// The approval's short code: the first 20 bits of SHA-256(approval_id) in
// Crockford's base32 (0-9 A-Z without I, L, O, U), e.g. "K7QM".
std::string BindingCode(absl::string_view approval_id);

// `code` as it ends a binding message: " #K7QM".
std::string BindingCodeSuffix(absl::string_view code);

// A regular expression restricted so that every string it matches is
// displayable and its longest match is known: ^ atoms $, an atom being a
// literal (A-Za-z0-9, space, _ - , : #; \. \+ \- escaped) or a class of
// such characters and ranges ([0-9a-z_]), optionally followed by {n},
// {n,m} or ?. The grammar is a subset of ECMAScript and RE2 syntax with
// the same meaning.
class DisplayPattern {
 public:
  // INVALID_ARGUMENT naming the first character outside the grammar, an
  // unbounded repetition, or a longest match above kMaxBindingMessage.
  static absl::StatusOr<DisplayPattern> Parse(absl::string_view pattern);

  bool Matches(absl::string_view value) const;
  std::size_t max_length() const { return max_length_; }

 private:
  struct Atom {
    std::bitset<128> chars;
    int min = 1, max = 1;
  };
  std::vector<Atom> atoms_;
  std::size_t max_length_ = 0;
};

// A rule's binding message template, checked against the rule's
// parameter constraints.
class BindingTemplate {
 public:
  // INVALID_ARGUMENT unless: `text` is non-empty, its literal characters
  // are displayable, each {name} ([A-Za-z0-9_]+) is a top-level parameter
  // that a constraint of `constraints` makes required and another (or the
  // same) makes displayable (an integer with both minimum and maximum,
  // allowed_values that are all displayable, or a pattern), and the
  // longest message it can compose, code included, fits kMaxBindingMessage.
  static absl::StatusOr<BindingTemplate> Parse(
      absl::string_view text, const google::protobuf::RepeatedPtrField<v1::ParameterConstraint>& constraints);

  // The message for `parameters`, ending with BindingCodeSuffix(code).
  // REQUIRES: `parameters` satisfy the constraints the template was parsed
  // with (Policy::Classify checked them). INTERNAL if they do not: nothing
  // unchecked is ever shown.
  absl::StatusOr<std::string> Compose(const nlohmann::json& parameters, absl::string_view code) const;

  // The longest message Compose can return.
  std::size_t max_length() const { return max_length_; }

 private:
  struct Part {
    std::string literal;    // shown as is, or
    std::string parameter;  // the parameter shown (when non-empty)
    bool integer = false;   // shown as an integer (minor units)
    std::size_t max_length = 0;
  };
  std::vector<Part> parts_;
  std::size_t max_length_ = 0;
};

}  // namespace cantdo::authority
