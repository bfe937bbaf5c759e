// The suite's own check (tests/support/service_process.hpp): a service log
// with a sanitizer report fails the test that ran the service. These are
// the reports' first lines as the sanitizers print them.

#include "support/service_process.hpp"

using cantdo::testing::SanitizerReports;

TEST_CASE("a sanitizer report in a service log is found, ordinary log lines are not", "[security][trust_boundaries]") {
  const std::string ordinary = R"({"level":"warn","msg":"rpc","error":"runtime error: none","method":"/x"})"
                               "\n"
                               R"({"level":"info","msg":"AddressSanitizer is only a word here"})"
                               "\n";
  CHECK(SanitizerReports(ordinary).empty());
  const std::string ubsan =
      "services/authority/ledger.cpp:273:71: runtime error: signed integer overflow: 9200000000000000000 * 1000000 "
      "cannot be represented in type 'long int'\n"
      "SUMMARY: UndefinedBehaviorSanitizer: undefined-behavior services/authority/ledger.cpp:273:71 in \n";
  CHECK(SanitizerReports(ordinary + ubsan).size() == 2);
  CHECK(SanitizerReports("==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010\n").size() ==
        1);
  CHECK(SanitizerReports("==4242==ERROR: LeakSanitizer: detected memory leaks\n").size() == 1);
}
