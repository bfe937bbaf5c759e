#include "authority/binding_message.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"
#include "cantdo/base/status.hpp"

namespace cantdo::authority {
namespace {

// Besides letters and digits, what CIBA providers and Auth0 Guardian show.
constexpr absl::string_view kDisplayablePunctuation = " +-_.,:#";
// Outside a class these stand for themselves in a regular expression; the
// other displayable punctuation (. +) must be escaped there.
constexpr absl::string_view kPlainLiterals = " -_,:#";
constexpr absl::string_view kEscapable = ".+-";
// Crockford's base32: no I, L, O, U, so a code read aloud is unambiguous.
constexpr absl::string_view kCodeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
constexpr int kCodeBitsPerChar = 5;
// Integers shown must convert exactly between double and int64 (2^53).
constexpr double kMaxExactInteger = 9007199254740992.0;

bool Displayable(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         kDisplayablePunctuation.find(c) != absl::string_view::npos;
}

absl::Status BadPattern(absl::string_view pattern, std::size_t at, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("pattern \"", pattern, "\" at character ", at + 1, ": ", why,
                   " (allowed: ^ and $ around literals of A-Za-z0-9 _-,:# or \\. \\+ \\-, classes of them, "
                   "{n}, {n,m}, ?)"));
}

// Reads {n} or {n,m} at pattern[*i] == '{', before `end`; advances past '}'.
absl::Status ReadRepetition(absl::string_view pattern, std::size_t end, std::size_t* i, int* min, int* max) {
  const std::size_t close = pattern.substr(0, end).find('}', *i);
  if (close == absl::string_view::npos) return BadPattern(pattern, *i, "unclosed {");
  const absl::string_view body = pattern.substr(*i + 1, close - *i - 1);
  const std::size_t comma = body.find(',');
  const absl::string_view lo = body.substr(0, comma);
  const absl::string_view hi = comma == absl::string_view::npos ? lo : body.substr(comma + 1);
  if (hi.empty()) return BadPattern(pattern, *i, "unbounded repetition");
  if (!absl::SimpleAtoi(lo, min) || !absl::SimpleAtoi(hi, max) || *min < 0 || *max < *min || *max < 1 ||
      *max > static_cast<int>(kMaxBindingMessage)) {
    return BadPattern(pattern, *i,
                      absl::StrCat("repetition must be {n} or {n,m} with 0 <= n <= m, 1 <= m <= ", kMaxBindingMessage));
  }
  *i = close + 1;
  return absl::OkStatus();
}

// Reads a class at pattern[*i] == '[', before `end`; advances past ']'.
absl::Status ReadClass(absl::string_view pattern, std::size_t end, std::size_t* i, std::bitset<128>* chars) {
  std::size_t j = *i + 1;
  if (j < end && pattern[j] == '^') return BadPattern(pattern, j, "negated classes are not allowed");
  const std::size_t first = j;
  while (j < end && pattern[j] != ']') {
    char c = pattern[j];
    if (c == '\\') {
      if (j + 1 >= end || kEscapable.find(pattern[j + 1]) == absl::string_view::npos) {
        return BadPattern(pattern, j, "only \\. \\+ \\- may be escaped");
      }
      c = pattern[j + 1];
      j += 2;
    } else {
      if (!Displayable(c)) return BadPattern(pattern, j, absl::StrCat("'", std::string(1, c), "' cannot be displayed"));
      ++j;
    }
    // c-hi is a range; a '-' first or last in the class is itself.
    if (j + 1 < end && pattern[j] == '-' && pattern[j + 1] != ']') {
      const char hi = pattern[j + 1];
      if (!Displayable(hi) || hi < c) {
        return BadPattern(pattern, j, "a range must go up between displayable characters");
      }
      for (int k = c; k <= hi; ++k) {
        if (!Displayable(static_cast<char>(k))) {
          return BadPattern(pattern, j, "the range includes characters that cannot be displayed");
        }
        chars->set(static_cast<std::size_t>(k));
      }
      j += 2;
    } else {
      chars->set(static_cast<unsigned char>(c));
    }
  }
  if (j >= end) return BadPattern(pattern, *i, "unclosed [");
  if (j == first) return BadPattern(pattern, *i, "empty class");
  *i = j + 1;
  return absl::OkStatus();
}

// The longest decimal rendering of an integer in [lo, hi].
std::size_t IntegerWidth(double lo, double hi) {
  const auto width = [](double v) { return std::to_string(static_cast<int64_t>(v)).size(); };
  return std::max(width(std::ceil(lo)), width(std::floor(hi)));
}

bool IsNameChar(char c) { return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_'; }

}  // namespace

bool IsDisplayable(absl::string_view text) { return std::all_of(text.begin(), text.end(), Displayable); }

std::string BindingCode(absl::string_view approval_id) {
  const std::string digest = Sha256Hex(approval_id);
  const int hex_digits = static_cast<int>(kBindingCodeLength) * kCodeBitsPerChar / 4;
  uint32_t bits = 0;
  if (!absl::SimpleHexAtoi(absl::string_view(digest).substr(0, hex_digits), &bits)) return "";
  std::string code(kBindingCodeLength, '0');
  for (std::size_t k = kBindingCodeLength; k-- > 0;) {
    code[k] = kCodeAlphabet[bits & ((1u << kCodeBitsPerChar) - 1)];
    bits >>= kCodeBitsPerChar;
  }
  return code;
}

std::string BindingCodeSuffix(absl::string_view code) { return absl::StrCat(" #", code); }

absl::StatusOr<DisplayPattern> DisplayPattern::Parse(absl::string_view pattern) {
  if (pattern.size() < 2 || pattern.front() != '^' || pattern.back() != '$') {
    return BadPattern(pattern, 0, "must start with ^ and end with $");
  }
  DisplayPattern out;
  const std::size_t end = pattern.size() - 1;
  std::size_t i = 1;
  while (i < end) {
    Atom atom;
    const char c = pattern[i];
    if (c == '[') {
      CANTDO_RETURN_IF_ERROR(ReadClass(pattern, end, &i, &atom.chars));
    } else if (c == '\\') {
      if (i + 1 >= end || kEscapable.find(pattern[i + 1]) == absl::string_view::npos) {
        return BadPattern(pattern, i, "only \\. \\+ \\- may be escaped");
      }
      atom.chars.set(static_cast<unsigned char>(pattern[i + 1]));
      i += 2;
    } else if (absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
               kPlainLiterals.find(c) != absl::string_view::npos) {
      atom.chars.set(static_cast<unsigned char>(c));
      ++i;
    } else {
      return BadPattern(pattern, i, absl::StrCat("'", std::string(1, c), "' is not allowed"));
    }
    if (i < end && pattern[i] == '?') {
      atom.min = 0;
      ++i;
    } else if (i < end && pattern[i] == '{') {
      CANTDO_RETURN_IF_ERROR(ReadRepetition(pattern, end, &i, &atom.min, &atom.max));
    } else if (i < end && (pattern[i] == '*' || pattern[i] == '+')) {
      return BadPattern(pattern, i, "unbounded repetition");
    }
    out.max_length_ += static_cast<std::size_t>(atom.max);
    out.atoms_.push_back(atom);
  }
  if (out.atoms_.empty()) return BadPattern(pattern, 0, "matches only the empty string");
  if (out.max_length_ > kMaxBindingMessage) {
    return BadPattern(pattern, 0,
                      absl::StrCat("matches up to ", out.max_length_, " characters; at most ", kMaxBindingMessage,
                                   " can be displayed"));
  }
  return out;
}

bool DisplayPattern::Matches(absl::string_view value) const {
  if (value.size() > max_length_) return false;
  const std::size_t n = value.size();
  // reach[p]: the atoms so far can match exactly value[0, p).
  std::vector<char> reach(n + 1, 0);
  reach[0] = 1;
  for (const Atom& atom : atoms_) {
    std::vector<char> next(n + 1, 0);
    for (std::size_t p = 0; p <= n; ++p) {
      if (!reach[p]) continue;
      for (int k = 0;; ++k) {
        if (k >= atom.min) next[p + k] = 1;
        if (k == atom.max || p + k == n) break;
        const auto c = static_cast<unsigned char>(value[p + k]);
        if (c >= atom.chars.size() || !atom.chars.test(c)) break;
      }
    }
    reach = std::move(next);
  }
  return reach[n] != 0;
}

absl::StatusOr<BindingTemplate> BindingTemplate::Parse(
    absl::string_view text, const google::protobuf::RepeatedPtrField<v1::ParameterConstraint>& constraints) {
  if (text.empty()) return absl::InvalidArgumentError("binding_message must not be empty");
  BindingTemplate out;
  std::size_t i = 0;
  while (i < text.size()) {
    Part part;
    if (text[i] == '{') {
      const std::size_t close = text.find('}', i);
      if (close == absl::string_view::npos) return absl::InvalidArgumentError("binding_message: unclosed {");
      part.parameter = std::string(text.substr(i + 1, close - i - 1));
      if (part.parameter.empty() || !std::all_of(part.parameter.begin(), part.parameter.end(), IsNameChar)) {
        return absl::InvalidArgumentError(
            absl::StrCat("binding_message: {", part.parameter, "} must name a top-level parameter ([A-Za-z0-9_]+)"));
      }
      i = close + 1;
    } else {
      const std::size_t next = std::min(text.find('{', i), text.size());
      part.literal = std::string(text.substr(i, next - i));
      i = next;
    }
    if (part.parameter.empty()) {
      if (part.literal.find('}') != std::string::npos || !IsDisplayable(part.literal)) {
        return absl::InvalidArgumentError(
            absl::StrCat("binding_message: \"", part.literal, "\" may only use A-Za-z0-9 +-_.,:# besides {parameter}"));
      }
      part.max_length = part.literal.size();
      out.max_length_ += part.max_length;
      out.parts_.push_back(std::move(part));
      continue;
    }
    const std::string pointer = "/" + part.parameter;
    bool required = false, bounded = false;
    part.max_length = kMaxBindingMessage;
    for (const v1::ParameterConstraint& c : constraints) {
      if (c.pointer() != pointer) continue;
      required |= c.required();
      if (c.has_minimum() && c.has_maximum()) {
        if (std::fabs(c.minimum()) > kMaxExactInteger || std::fabs(c.maximum()) > kMaxExactInteger) {
          return absl::InvalidArgumentError(
              absl::StrCat("binding_message: {", part.parameter, "}: bounds beyond 2^53 cannot be shown exactly"));
        }
        bounded = part.integer = true;
        part.max_length = std::min(part.max_length, IntegerWidth(c.minimum(), c.maximum()));
      }
      if (c.allowed_values_size() > 0) {
        std::size_t longest = 0;
        for (const std::string& v : c.allowed_values()) {
          if (v.empty() || !IsDisplayable(v)) {
            return absl::InvalidArgumentError(
                absl::StrCat("binding_message: {", part.parameter, "}: allowed value \"", v, "\" cannot be displayed"));
          }
          longest = std::max(longest, v.size());
        }
        bounded = true;
        part.max_length = std::min(part.max_length, longest);
      }
      if (!c.pattern().empty()) {
        CANTDO_ASSIGN_OR_RETURN(DisplayPattern p, DisplayPattern::Parse(c.pattern()));
        bounded = true;
        part.max_length = std::min(part.max_length, p.max_length());
      }
    }
    if (!required || !bounded) {
      return absl::InvalidArgumentError(absl::StrCat(
          "binding_message: {", part.parameter, "} may only show a parameter that a constraint on \"", pointer,
          "\" makes required and limits to an integer with minimum and maximum, allowed_values or a pattern"));
    }
    out.max_length_ += part.max_length;
    out.parts_.push_back(std::move(part));
  }
  out.max_length_ += BindingCodeSuffix(std::string(kBindingCodeLength, '0')).size();
  if (out.max_length_ > kMaxBindingMessage) {
    return absl::InvalidArgumentError(absl::StrCat("binding_message \"", text, "\" can compose ", out.max_length_,
                                                   " characters with its code; at most ", kMaxBindingMessage,
                                                   " can be displayed"));
  }
  return out;
}

absl::StatusOr<std::string> BindingTemplate::Compose(const nlohmann::json& parameters, absl::string_view code) const {
  std::string out;
  for (const Part& part : parts_) {
    if (part.parameter.empty()) {
      out += part.literal;
      continue;
    }
    const auto it = parameters.is_object() ? parameters.find(part.parameter) : parameters.end();
    std::string value;
    if (it == parameters.end()) {
      value.clear();
    } else if (part.integer && it->is_number()) {
      const double d = it->get<double>();
      if (d == std::floor(d) && std::fabs(d) <= kMaxExactInteger) {
        value = it->is_number_integer() ? it->dump() : std::to_string(static_cast<int64_t>(d));
      }
    } else if (!part.integer && it->is_string()) {
      value = it->get<std::string>();
    }
    if (value.empty() || value.size() > part.max_length || !IsDisplayable(value)) {
      return absl::InternalError(
          absl::StrCat("binding message: parameter ", part.parameter, " was not checked against the policy"));
    }
    out += value;
  }
  out += BindingCodeSuffix(code);
  if (out.size() > kMaxBindingMessage || !IsDisplayable(out)) {
    return absl::InternalError("binding message: composed text outside the displayable form");
  }
  return out;
}

}  // namespace cantdo::authority
