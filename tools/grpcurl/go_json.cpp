#include "grpcurl/go_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <map>

#include "absl/strings/str_cat.h"

namespace cantdo::grpcurl::go {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// Length of the valid UTF-8 sequence at s[i] (as Go's utf8.DecodeRune
// accepts it: no overlongs, no surrogates, nothing above U+10FFFF), or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    return k < s.size() && at(k) >= lo && at(k) <= hi;
  };
  const unsigned c = at(i);
  if (c >= 0xC2 && c <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (c == 0xE0) return cont(i + 1, 0xA0) && cont(i + 2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(i + 1) && cont(i + 2) ? 3 : 0;
  if (c == 0xED) return cont(i + 1, 0x80, 0x9F) && cont(i + 2) ? 3 : 0;
  if (c == 0xF0) return cont(i + 1, 0x90) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(i + 1) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  if (c == 0xF4) return cont(i + 1, 0x80, 0x8F) && cont(i + 2) && cont(i + 3) ? 4 : 0;
  return 0;
}

// Go's decimal digits of a float: value = 0.d[0]d[1]... * 10^dp; zero has
// no digits and dp 0.
struct Digits {
  bool neg = false;
  std::string d;
  int dp = 0;
};

Digits Shortest(double v, int bits) {
  Digits out;
  out.neg = std::signbit(v);
  if (v == 0) return out;
  char buf[64];
  std::to_chars_result r =
      bits == 32 ? std::to_chars(buf, buf + sizeof buf, static_cast<float>(std::fabs(v)), std::chars_format::scientific)
                 : std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string_view text(buf, static_cast<size_t>(r.ptr - buf));  // d[.ddd]e±XX
  const size_t e = text.find('e');
  for (char c : text.substr(0, e)) {
    if (c != '.') out.d.push_back(c);
  }
  int exp = 0;
  std::string_view es = text.substr(e + 1);
  if (es.front() == '+') es.remove_prefix(1);
  std::from_chars(es.data(), es.data() + es.size(), exp);
  out.dp = exp + 1;
  return out;
}

std::string FmtE(const Digits& x, int prec) {
  std::string out = x.neg ? "-" : "";
  out.push_back(x.d.empty() ? '0' : x.d[0]);
  if (prec > 0) {
    out.push_back('.');
    for (int i = 1; i <= prec; ++i) out.push_back(i < static_cast<int>(x.d.size()) ? x.d[i] : '0');
  }
  out.push_back('e');
  int exp = x.d.empty() ? 0 : x.dp - 1;
  out.push_back(exp < 0 ? '-' : '+');
  exp = std::abs(exp);
  if (exp < 10) {
    out.push_back('0');
    out.push_back(static_cast<char>('0' + exp));
  } else if (exp < 100) {
    out.push_back(static_cast<char>('0' + exp / 10));
    out.push_back(static_cast<char>('0' + exp % 10));
  } else {
    out.push_back(static_cast<char>('0' + exp / 100));
    out.push_back(static_cast<char>('0' + exp / 10 % 10));
    out.push_back(static_cast<char>('0' + exp % 10));
  }
  return out;
}

std::string FmtF(const Digits& x, int prec) {
  std::string out = x.neg ? "-" : "";
  const int nd = static_cast<int>(x.d.size());
  if (x.dp > 0) {
    out.append(x.d, 0, static_cast<size_t>(std::min(nd, x.dp)));
    for (int m = std::min(nd, x.dp); m < x.dp; ++m) out.push_back('0');
  } else {
    out.push_back('0');
  }
  if (prec > 0) {
    out.push_back('.');
    for (int i = 1; i <= prec; ++i) {
      const int j = x.dp + i - 1;
      out.push_back(j >= 0 && j < nd ? x.d[j] : '0');
    }
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// End (one past the closing quote) of the JSON string starting at s[i].
size_t StringEnd(std::string_view s, size_t i) {
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return std::string_view::npos;
}

// End of the JSON value starting at s[i] (strings, objects, arrays, literals).
size_t ValueEnd(std::string_view s, size_t i) {
  int depth = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == '"') {
      i = StringEnd(s, i);
      if (i == std::string_view::npos) return i;
      if (depth == 0) return i;
      continue;
    }
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth <= 0) return depth == 0 ? i + 1 : i;
    }
    if (depth == 0 && (c == ',' || IsSpace(c))) return i;
    ++i;
  }
  return depth == 0 ? i : std::string_view::npos;
}

void AppendUtf8(uint32_t r, std::string* out) {
  if (r < 0x80) {
    out->push_back(static_cast<char>(r));
  } else if (r < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (r >> 6)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else if (r < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (r >> 12)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (r >> 18)));
    out->push_back(static_cast<char>(0x80 | ((r >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((r >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (r & 0x3F)));
  }
}

// The Go string a quoted JSON string decodes to (as json.Unmarshal does;
// a lone surrogate escape becomes U+FFFD).
std::string Unquote(std::string_view quoted) {
  std::string out;
  auto hex4 = [&](size_t at) -> uint32_t {
    uint32_t v = 0;
    for (size_t k = at; k < at + 4 && k < quoted.size(); ++k) {
      const char c = quoted[k];
      v = v * 16 + static_cast<uint32_t>(c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10);
    }
    return v;
  };
  for (size_t i = 1; i + 1 < quoted.size(); ++i) {
    if (quoted[i] != '\\') {
      out.push_back(quoted[i]);
      continue;
    }
    const char e = quoted[++i];
    switch (e) {
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        uint32_t r = hex4(i + 1);
        i += 4;
        if (r >= 0xD800 && r < 0xDC00 && i + 6 < quoted.size() && quoted[i + 1] == '\\' && quoted[i + 2] == 'u') {
          const uint32_t lo = hex4(i + 3);
          if (lo >= 0xDC00 && lo < 0xE000) {
            r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
            i += 6;
          }
        }
        if (r >= 0xD800 && r < 0xE000) r = 0xFFFD;
        AppendUtf8(r, &out);
        break;
      }
      default:
        out.push_back(e);  // \" \\ \/
    }
  }
  return out;
}

}  // namespace

std::string Quote(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
      if (b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&') {
        out.push_back(static_cast<char>(b));
      } else if (b == '"' || b == '\\') {
        out.push_back('\\');
        out.push_back(static_cast<char>(b));
      } else if (b == '\n') {
        out += "\\n";
      } else if (b == '\r') {
        out += "\\r";
      } else if (b == '\t') {
        out += "\\t";
      } else {
        out += "\\u00";
        out.push_back(kHex[b >> 4]);
        out.push_back(kHex[b & 0xF]);
      }
      ++i;
      continue;
    }
    const size_t n = Utf8Length(s, i);
    if (n == 0) {
      out += "\\ufffd";
      ++i;
      continue;
    }
    // U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
    if (n == 3 && b == 0xE2 && static_cast<unsigned char>(s[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(s[i + 2]) & ~1u) == 0xA8) {
      out += "\\u202";
      out.push_back(kHex[static_cast<unsigned char>(s[i + 2]) & 0xF]);
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  out.push_back('"');
  return out;
}

std::string FormatFloatG(double v, int bits) {
  const Digits x = Shortest(v, bits);
  const int nd = static_cast<int>(x.d.size());
  const int exp = x.dp - 1;
  // Shortest formatting decides between %e and %f with precision 6.
  if (exp < -4 || exp >= 6) return FmtE(x, nd - 1);
  return FmtF(x, std::max(nd - x.dp, 0));
}

std::string JsonFloat(double v, int bits) {
  const double a = std::fabs(v);
  bool e = false;
  if (a != 0) {
    e = bits == 64 ? (a < 1e-6 || a >= 1e21) : (static_cast<float>(a) < 1e-6f || static_cast<float>(a) >= 1e21f);
  }
  const Digits x = Shortest(v, bits);
  const int nd = static_cast<int>(x.d.size());
  if (!e) return FmtF(x, std::max(nd - x.dp, 0));
  std::string out = FmtE(x, std::max(nd - 1, 0));
  const size_t n = out.size();
  if (n >= 4 && out[n - 4] == 'e' && out[n - 3] == '-' && out[n - 2] == '0') out.erase(n - 2, 1);
  return out;
}

std::string Compact(std::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size();) {
    if (json[i] == '"') {
      const size_t end = StringEnd(json, i);
      out.append(json.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i));
      if (end == std::string_view::npos) break;
      i = end;
      continue;
    }
    if (!IsSpace(json[i])) out.push_back(json[i]);
    ++i;
  }
  return out;
}

absl::StatusOr<std::string> MarshalObjectWithType(std::string_view object, std::string_view type_url) {
  auto bad = [&] {
    return absl::InternalError(absl::StrCat("not a JSON object: ", std::string(object.substr(0, 80))));
  };
  std::map<std::string, std::string> members;  // Go sorts map keys by their bytes, as std::map does
  size_t i = 0;
  auto skip = [&] {
    while (i < object.size() && IsSpace(object[i])) ++i;
  };
  skip();
  if (i >= object.size() || object[i] != '{') return bad();
  ++i;
  skip();
  if (i < object.size() && object[i] == '}') {
    ++i;
  } else {
    while (true) {
      skip();
      if (i >= object.size() || object[i] != '"') return bad();
      const size_t key_end = StringEnd(object, i);
      if (key_end == std::string_view::npos) return bad();
      std::string key = Unquote(object.substr(i, key_end - i));
      i = key_end;
      skip();
      if (i >= object.size() || object[i] != ':') return bad();
      ++i;
      skip();
      const size_t value_end = ValueEnd(object, i);
      if (value_end == std::string_view::npos || value_end == i) return bad();
      members[std::move(key)] = Compact(object.substr(i, value_end - i));
      i = value_end;
      skip();
      if (i < object.size() && object[i] == ',') {
        ++i;
        continue;
      }
      if (i < object.size() && object[i] == '}') {
        ++i;
        break;
      }
      return bad();
    }
  }
  skip();
  if (i != object.size()) return bad();
  members["@type"] = Quote(type_url);
  std::string out = "{";
  for (const auto& [key, value] : members) {
    if (out.size() > 1) out.push_back(',');
    absl::StrAppend(&out, Quote(key), ":", value);
  }
  out.push_back('}');
  return out;
}

}  // namespace cantdo::grpcurl::go
