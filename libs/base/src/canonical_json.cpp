#include "cantdo/base/canonical_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "absl/strings/str_cat.h"
#include "cantdo/base/ids.hpp"

namespace cantdo {
namespace {

// UTF-8 to UTF-16 code units, for RFC 8785 member ordering.
std::u16string Utf16(const std::string& s) {
  std::u16string out;
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp;
    int len;
    if (c < 0x80) {
      cp = c;
      len = 1;
    } else if ((c >> 5) == 0x6) {
      cp = c & 0x1f;
      len = 2;
    } else if ((c >> 4) == 0xe) {
      cp = c & 0x0f;
      len = 3;
    } else {
      cp = c & 0x07;
      len = 4;
    }
    for (int k = 1; k < len && i + k < s.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
    i += static_cast<std::size_t>(len);
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out.push_back(static_cast<char16_t>(0xd800 + (cp >> 10)));
      out.push_back(static_cast<char16_t>(0xdc00 + (cp & 0x3ff)));
    } else {
      out.push_back(static_cast<char16_t>(cp));
    }
  }
  return out;
}

void AppendString(const std::string& s, std::string* out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out->append(buf);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
  }
  out->push_back('"');
}

// ECMAScript Number::toString for finite doubles.
std::string EcmaNumber(double v) {
  if (v == 0) return "0";  // also -0
  char buf[64];
  // Shortest round-trip digits in scientific form: d.ddddde[+-]x
  auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string sci(buf, r.ptr);
  bool negative = sci[0] == '-';
  if (negative) sci.erase(0, 1);
  auto e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  int exp = std::stoi(sci.substr(e + 1));
  std::string digits;
  for (char c : mantissa)
    if (c != '.') digits.push_back(c);
  const int k = static_cast<int>(digits.size());
  const int n = exp + 1;  // position of the decimal point
  std::string out;
  if (k <= n && n <= 21) {
    out = digits + std::string(static_cast<std::size_t>(n - k), '0');
  } else if (0 < n && n <= 21) {
    out = digits.substr(0, static_cast<std::size_t>(n)) + "." + digits.substr(static_cast<std::size_t>(n));
  } else if (-6 < n && n <= 0) {
    out = "0." + std::string(static_cast<std::size_t>(-n), '0') + digits;
  } else {
    const int e10 = n - 1;
    out = digits.substr(0, 1);
    if (k > 1) out += "." + digits.substr(1);
    out += absl::StrCat("e", e10 >= 0 ? "+" : "-", std::abs(e10));
  }
  return negative ? "-" + out : out;
}

// 2^53: integers up to this magnitude are exact as doubles.
constexpr int64_t kExactInteger = int64_t{1} << 53;

bool IsAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

absl::Status Append(const nlohmann::json& v, std::string* out, int depth) {
  if (depth > kMaxCanonicalJsonDepth) {
    return absl::InvalidArgumentError(absl::StrCat("JSON nested deeper than ", kMaxCanonicalJsonDepth, " levels"));
  }
  switch (v.type()) {
    case nlohmann::json::value_t::null:
      out->append("null");
      return absl::OkStatus();
    case nlohmann::json::value_t::boolean:
      out->append(v.get<bool>() ? "true" : "false");
      return absl::OkStatus();
    case nlohmann::json::value_t::number_integer:
    case nlohmann::json::value_t::number_unsigned:
      // An integer a double holds exactly (|v| <= 2^53) prints as its digits
      // in ECMAScript; larger ones round as doubles do, below.
      if (v.is_number_unsigned()) {
        if (const uint64_t u = v.get<uint64_t>(); u <= static_cast<uint64_t>(kExactInteger)) {
          absl::StrAppend(out, u);
          return absl::OkStatus();
        }
      } else if (const int64_t i = v.get<int64_t>(); i >= -kExactInteger && i <= kExactInteger) {
        absl::StrAppend(out, i);
        return absl::OkStatus();
      }
      [[fallthrough]];
    case nlohmann::json::value_t::number_float: {
      double d = v.get<double>();
      if (!std::isfinite(d)) return absl::InvalidArgumentError("NaN and infinity are not JSON numbers");
      out->append(EcmaNumber(d));
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::string:
      AppendString(v.get_ref<const std::string&>(), out);
      return absl::OkStatus();
    case nlohmann::json::value_t::array: {
      out->push_back('[');
      bool first = true;
      for (const auto& e : v) {
        if (!first) out->push_back(',');
        first = false;
        if (auto st = Append(e, out, depth + 1); !st.ok()) return st;
      }
      out->push_back(']');
      return absl::OkStatus();
    }
    case nlohmann::json::value_t::object: {
      // Members in RFC 8785 order, by the UTF-16 code units of their names.
      // nlohmann::json keeps them in a std::map, in byte order, which for
      // ASCII names is that order already: only other names are sorted.
      struct Member {
        const std::string* name;
        const nlohmann::json* value;
        std::u16string order;  // set only when sorting
      };
      std::vector<Member> members;
      members.reserve(v.size());
      bool ascii = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        members.push_back({&it.key(), &it.value(), {}});
        ascii = ascii && IsAscii(it.key());
      }
      if (!ascii) {
        for (auto& m : members) m.order = Utf16(*m.name);
        std::sort(members.begin(), members.end(), [](const Member& x, const Member& y) { return x.order < y.order; });
      }
      out->push_back('{');
      bool first = true;
      for (const auto& m : members) {
        if (!first) out->push_back(',');
        first = false;
        AppendString(*m.name, out);
        out->push_back(':');
        if (auto st = Append(*m.value, out, depth + 1); !st.ok()) return st;
      }
      out->push_back('}');
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError("value has no JSON form");
  }
}

}  // namespace

absl::StatusOr<std::string> CanonicalJson(const nlohmann::json& value) {
  std::string out;
  if (auto st = Append(value, &out, 0); !st.ok()) return st;
  return out;
}

absl::StatusOr<std::string> CanonicalJsonSha256(const nlohmann::json& value) {
  auto text = CanonicalJson(value);
  if (!text.ok()) return text.status();
  return Sha256Hex(*text);
}

}  // namespace cantdo
