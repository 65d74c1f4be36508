#include "narrator.hpp"

#include <iostream>

namespace racelab::cli {

Narrator::Narrator(bool color) : color_(color) {}

std::string Narrator::paint(const char* ansi, const std::string& text) const {
  return color_ ? std::string("\033[") + ansi + "m" + text + "\033[0m" : text;
}

void Narrator::chapter(const std::string& title) {
  std::cout << '\n' << paint("1", std::to_string(++chapter_) + ". " + title) << '\n';
}

void Narrator::say(const std::string& text) { std::cout << "   " << text << '\n'; }

void Narrator::code(const std::string& text) { std::cout << "     " << paint("36", text) << '\n'; }

void Narrator::result(bool as_expected, const std::string& text) {
  if (!as_expected) ++failures_;
  std::cout << "   " << (as_expected ? paint("32", "[as expected] ") : paint("31", "[UNEXPECTED] ")) << text
            << '\n';
}

}  // namespace racelab::cli
