// Narration for the demo: chapters, what is shown, results, and a verdict per demonstration.
#pragma once

#include <string>

namespace racelab::cli {

class Narrator {
 public:
  explicit Narrator(bool color);
  void chapter(const std::string& title);
  void say(const std::string& text);   // what is being shown, and why
  void code(const std::string& text);  // the few lines that do it
  // A demonstration's outcome: `as_expected` false makes the demo fail at the end.
  void result(bool as_expected, const std::string& text);
  int failures() const { return failures_; }

 private:
  std::string paint(const char* ansi, const std::string& text) const;
  bool color_;
  int failures_ = 0;
  int chapter_ = 0;
};

}  // namespace racelab::cli
