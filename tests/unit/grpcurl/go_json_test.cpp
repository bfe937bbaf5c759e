// The Go library behaviour grpcurl's output goes through. Expected values
// are what Go 1.19's encoding/json and strconv produce for the same input
// (read off their source: encode.go's string and float encoders, ftoa.go's
// shortest %e/%f/%g, indent.go's compact).

#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "grpcurl/go_json.hpp"

namespace go = cantdo::grpcurl::go;

TEST_CASE("strings are quoted as Go's json.Marshal quotes them", "[unit][grpcurl]") {
  CHECK(go::Quote("plain") == R"("plain")");
  CHECK(go::Quote("a\"b\\c") == R"("a\"b\\c")");
  CHECK(go::Quote("\n\r\t") == R"("\n\r\t")");
  // Other control characters as \u00XX, lowercase; \b and \f too (Go < 1.22).
  CHECK(go::Quote(std::string("\x01\x08\x0c\x1f", 4)) == R"("\u0001\u0008\u000c\u001f")");
  CHECK(go::Quote(std::string("nul\0!", 5)) == R"("nul\u0000!")");
  // HTML-sensitive characters are escaped; DEL and non-ASCII are not.
  CHECK(go::Quote("<a href='x'>&</a>") == R"("\u003ca href='x'\u003e\u0026\u003c/a\u003e")");
  CHECK(go::Quote("caf\xc3\xa9 \x7f") == "\"caf\xc3\xa9 \x7f\"");
  // U+2028 and U+2029 are escaped (JavaScript line terminators).
  CHECK(go::Quote("a\xe2\x80\xa8"
                  "b\xe2\x80\xa9") == R"("a\u2028b\u2029")");
  // Each byte of invalid UTF-8 becomes U+FFFD, written escaped.
  CHECK(go::Quote("x\xff\xc3") == R"("x\ufffd\ufffd")");
  CHECK(go::Quote("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");   // an encoded surrogate
  CHECK(go::Quote("\xf0\x9f\x99\x82") == "\"\xf0\x9f\x99\x82\"");  // a valid 4-byte rune
}

TEST_CASE("floats are formatted as strconv.FormatFloat(v, 'g', -1, bits)", "[unit][grpcurl]") {
  CHECK(go::FormatFloatG(0, 64) == "0");
  CHECK(go::FormatFloatG(-0.0, 64) == "-0");
  CHECK(go::FormatFloatG(1.5, 64) == "1.5");
  CHECK(go::FormatFloatG(2500, 64) == "2500");
  CHECK(go::FormatFloatG(123456, 64) == "123456");
  CHECK(go::FormatFloatG(1e6, 64) == "1e+06");
  CHECK(go::FormatFloatG(1234567, 64) == "1.234567e+06");
  CHECK(go::FormatFloatG(0.0001, 64) == "0.0001");
  CHECK(go::FormatFloatG(0.00001, 64) == "1e-05");
  CHECK(go::FormatFloatG(0.1 + 0.2, 64) == "0.30000000000000004");
  CHECK(go::FormatFloatG(-2.5e-300, 64) == "-2.5e-300");
  CHECK(go::FormatFloatG(1.7976931348623157e308, 64) == "1.7976931348623157e+308");
  // float32: the shortest digits that read back as the float32.
  CHECK(go::FormatFloatG(static_cast<float>(0.1), 32) == "0.1");
  CHECK(go::FormatFloatG(static_cast<float>(16777216.0), 32) == "1.6777216e+07");
}

TEST_CASE("floats are marshalled as encoding/json marshals them", "[unit][grpcurl]") {
  CHECK(go::JsonFloat(0, 64) == "0");
  CHECK(go::JsonFloat(2500, 64) == "2500");
  CHECK(go::JsonFloat(1e6, 64) == "1000000");
  CHECK(go::JsonFloat(1e20, 64) == "100000000000000000000");
  CHECK(go::JsonFloat(1e21, 64) == "1e+21");
  CHECK(go::JsonFloat(0.000001, 64) == "0.000001");
  CHECK(go::JsonFloat(1e-7, 64) == "1e-7");
  CHECK(go::JsonFloat(-1.5e-10, 64) == "-1.5e-10");
  CHECK(go::JsonFloat(12.25, 64) == "12.25");
  CHECK(go::JsonFloat(static_cast<float>(0.1), 32) == "0.1");
}

TEST_CASE("compaction drops whitespace outside strings only", "[unit][grpcurl]") {
  CHECK(go::Compact("{\n  \"a b\": [ 1 ,\t2 ],\r\n  \"c\": \"x \\\" y\"\n}") == R"({"a b":[1,2],"c":"x \" y"})");
}

TEST_CASE("an object re-marshalled through a Go map gets @type and sorted keys", "[unit][grpcurl]") {
  auto out = go::MarshalObjectWithType(
      "{\n  \"reason\": \"X\",\n  \"domain\": \"d\",\n  \"metadata\": {\n    \"z\": \"1\",\n    \"a\": \"2\"\n  }\n}",
      "type.googleapis.com/google.rpc.ErrorInfo");
  REQUIRE(out.ok());
  // Top-level keys sorted ("@" sorts before letters), nested order kept.
  CHECK(
      *out ==
      R"({"@type":"type.googleapis.com/google.rpc.ErrorInfo","domain":"d","metadata":{"z":"1","a":"2"},"reason":"X"})");

  auto empty = go::MarshalObjectWithType("{\n  \n}", "t/x.Y");
  REQUIRE(empty.ok());
  CHECK(*empty == R"({"@type":"t/x.Y"})");

  CHECK_FALSE(go::MarshalObjectWithType("[1]", "t/x.Y").ok());
  CHECK_FALSE(go::MarshalObjectWithType("{\"a\":1", "t/x.Y").ok());
}
