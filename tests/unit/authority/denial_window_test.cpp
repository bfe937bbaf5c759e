#include <catch2/catch.hpp>

#include "authority/denial_window.hpp"
#include "cantdo/base/clock.hpp"

using cantdo::FakeClock;
using cantdo::authority::DenialWindow;

TEST_CASE("DenialWindow: the most denials of one principal within the window, no principal as a label",
          "[unit][authority][metrics]") {
  FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  DenialWindow w(clock, absl::Minutes(5));
  CHECK(w.Read().max_per_principal == 0);
  for (int i = 0; i < 7; ++i) w.Record("platform:prober");
  w.Record("platform:honest");
  CHECK(w.Read().max_per_principal == 7);
  CHECK(w.Read().principals == 2);
  clock.Advance(absl::Minutes(3));
  for (int i = 0; i < 3; ++i) w.Record("platform:honest");
  CHECK(w.Read().max_per_principal == 7);
  // The prober's denials leave the window; the honest one's later ones stay.
  clock.Advance(absl::Minutes(2) + absl::Seconds(1));
  CHECK(w.Read().max_per_principal == 3);
  CHECK(w.Read().principals == 1);
  clock.Advance(absl::Minutes(5));
  CHECK(w.Read().max_per_principal == 0);
  CHECK(w.Read().principals == 0);
}

TEST_CASE(
    "DenialWindow stays bounded: principals beyond the bound push out the least recently refused, counts "
    "saturate",
    "[unit][authority][metrics]") {
  FakeClock clock(absl::FromUnixSeconds(1'700'000'000));
  DenialWindow w(clock, absl::Minutes(5), /*max_principals=*/3, /*max_per_principal=*/10);
  for (int i = 0; i < 50; ++i) w.Record("platform:loud");
  CHECK(w.Read().max_per_principal == 10);
  clock.Advance(absl::Seconds(1));
  w.Record("a");
  clock.Advance(absl::Seconds(1));
  w.Record("b");
  clock.Advance(absl::Seconds(1));
  w.Record("c");  // full: "platform:loud", refused least recently, goes
  CHECK(w.Read().principals == 3);
  CHECK(w.Read().max_per_principal == 1);
  for (int i = 0; i < 1000; ++i) w.Record("p" + std::to_string(i));
  CHECK(w.Read().principals == 3);
}
