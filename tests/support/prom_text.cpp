#include "tests/support/prom_text.hpp"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <set>
#include <sstream>

namespace snapkeep::test {
namespace {

bool metric_name_ok(const std::string& name) {
  if (name.empty()) {
    return false;
  }
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!letter && !(i > 0 && c >= '0' && c <= '9')) {
      return false;
    }
  }
  return true;
}

bool label_name_ok(const std::string& name) {
  return metric_name_ok(name) && name.find(':') == std::string::npos && !name.starts_with("__");
}

bool utf8_ok(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    const std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) {
      return false;
    }
    for (std::size_t k = 1; k < n; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) {
        return false;
      }
    }
    i += n;
  }
  return true;
}

// A float as Go's strconv.ParseFloat takes it (plus the format's Inf/NaN spellings).
bool parse_value(const std::string& text, double& value) {
  if (text == "+Inf" || text == "Inf") {
    value = INFINITY;
    return true;
  }
  if (text == "-Inf") {
    value = -INFINITY;
    return true;
  }
  if (text == "NaN") {
    value = NAN;
    return true;
  }
  if (text.empty() || text.find_first_not_of("0123456789+-.eE") != std::string::npos) {
    return false;
  }
  char* end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return end == text.c_str() + text.size() && errno == 0;
}

bool parse_timestamp(const std::string& text) {
  if (text.empty() || text.find_first_not_of("0123456789-") != std::string::npos ||
      text.find('-', 1) != std::string::npos) {
    return false;
  }
  char* end = nullptr;
  errno = 0;
  (void)std::strtoll(text.c_str(), &end, 10);
  return end == text.c_str() + text.size() && errno == 0;
}

// The family a sample name belongs to (histogram and summary suffixes), given the types so far.
std::string family_of(const std::string& name, const std::map<std::string, std::string>& types) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (name.ends_with(suffix)) {
      const std::string base = name.substr(0, name.size() - std::string(suffix).size());
      const auto t = types.find(base);
      if (t != types.end() && (t->second == "histogram" || t->second == "summary")) {
        return base;
      }
    }
  }
  return name;
}

}  // namespace

std::vector<PromFamily> parse_prom_text(const std::string& text, std::string& error) {
  std::vector<PromFamily> families;
  std::map<std::string, std::string> types;
  std::set<std::string> helped;
  std::set<std::string> closed;  // families whose samples ended (another one began)
  std::set<std::string> series;
  std::string current;
  auto family = [&](const std::string& name) -> PromFamily& {
    for (auto& f : families) {
      if (f.name == name) {
        return f;
      }
    }
    families.push_back(PromFamily{name, "", "untyped", {}});
    return families.back();
  };
  if (!text.empty() && text.back() != '\n') {
    error = "the last line does not end with a newline";
    return {};
  }
  std::istringstream in(text);
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string at = "line " + std::to_string(number) + ": ";
    if (line.empty()) {
      continue;
    }
    if (line[0] == '#') {
      std::istringstream words(line.substr(1));
      std::string keyword;
      std::string name;
      words >> keyword >> name;
      if (keyword != "HELP" && keyword != "TYPE") {
        continue;  // a comment
      }
      if (!metric_name_ok(name)) {
        error = at + "bad metric name in " + keyword + ": '" + name + "'";
        return {};
      }
      std::string rest;
      std::getline(words, rest);
      if (!rest.empty() && rest[0] == ' ') {
        rest.erase(0, 1);
      }
      if (closed.count(name) != 0 || (current != name && !family(name).samples.empty())) {
        error = at + keyword + " for " + name + " after its samples";
        return {};
      }
      if (keyword == "HELP") {
        if (!helped.insert(name).second) {
          error = at + "second HELP line for " + name;
          return {};
        }
        for (std::size_t i = 0; i < rest.size(); ++i) {
          if (rest[i] == '\\' && (i + 1 == rest.size() || (rest[i + 1] != '\\' && rest[i + 1] != 'n'))) {
            error = at + "bad escape in HELP of " + name;
            return {};
          }
          i += rest[i] == '\\' ? 1 : 0;
        }
        family(name).help = rest;
      } else {
        static const std::set<std::string> k_types = {"counter", "gauge", "histogram", "summary", "untyped"};
        if (k_types.count(rest) == 0) {
          error = at + "unknown type '" + rest + "' for " + name;
          return {};
        }
        if (types.count(name) != 0) {
          error = at + "second TYPE line for " + name;
          return {};
        }
        types[name] = rest;
        family(name).type = rest;
      }
      continue;
    }
    // A sample: name[{labels}] value [timestamp]
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ' && line[i] != '\t') {
      ++i;
    }
    PromSample sample;
    sample.name = line.substr(0, i);
    if (!metric_name_ok(sample.name)) {
      error = at + "bad metric name '" + sample.name + "'";
      return {};
    }
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        const std::size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          error = at + "label without '='";
          return {};
        }
        const std::string key = line.substr(i, eq - i);
        if (!label_name_ok(key)) {
          error = at + "bad label name '" + key + "'";
          return {};
        }
        if (eq + 1 >= line.size() || line[eq + 1] != '"') {
          error = at + "label value of " + key + " is not quoted";
          return {};
        }
        std::string value;
        std::size_t k = eq + 2;
        for (; k < line.size() && line[k] != '"'; ++k) {
          if (line[k] == '\\') {
            if (k + 1 >= line.size() || (line[k + 1] != '\\' && line[k + 1] != '"' && line[k + 1] != 'n')) {
              error = at + "bad escape in the value of " + key;
              return {};
            }
            value += line[k + 1] == 'n' ? '\n' : line[k + 1];
            ++k;
          } else {
            value += line[k];
          }
        }
        if (k >= line.size()) {
          error = at + "unterminated value of " + key;
          return {};
        }
        if (!utf8_ok(value)) {
          error = at + "value of " + key + " is not UTF-8";
          return {};
        }
        if (!sample.labels.emplace(key, value).second) {
          error = at + "label " + key + " twice";
          return {};
        }
        i = k + 1;
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          error = at + "expected ',' or '}' after the value of " + key;
          return {};
        }
      }
    }
    if (i >= line.size() || (line[i] != ' ' && line[i] != '\t')) {
      error = at + "no blank before the value";
      return {};
    }
    std::istringstream rest(line.substr(i));
    std::string value_text;
    std::string timestamp;
    std::string extra;
    rest >> value_text >> timestamp >> extra;
    if (!parse_value(value_text, sample.value)) {
      error = at + "bad value '" + value_text + "'";
      return {};
    }
    if (!timestamp.empty() && !parse_timestamp(timestamp)) {
      error = at + "bad timestamp '" + timestamp + "'";
      return {};
    }
    if (!extra.empty()) {
      error = at + "text after the timestamp";
      return {};
    }
    const std::string name = family_of(sample.name, types);
    const auto type = types.find(name);
    if (type != types.end() && (type->second == "gauge" || type->second == "counter") && sample.name != name) {
      error = at + sample.name + " in a " + type->second + " family of another name";
      return {};
    }
    if (name != current) {
      if (closed.count(name) != 0) {
        error = at + "samples of " + name + " are not together";
        return {};
      }
      if (!current.empty()) {
        closed.insert(current);
      }
      current = name;
    }
    std::string key = sample.name + "{";
    for (const auto& [k, v] : sample.labels) {
      key += k + "=" + v + ",";
    }
    if (!series.insert(key).second) {
      error = at + "series " + key + "} appears twice";
      return {};
    }
    family(name).samples.push_back(std::move(sample));
  }
  return families;
}

double prom_value(const std::vector<PromFamily>& families, const std::string& family,
                  const std::map<std::string, std::string>& labels) {
  for (const auto& f : families) {
    if (f.name != family) {
      continue;
    }
    for (const auto& s : f.samples) {
      bool match = true;
      for (const auto& [k, v] : labels) {
        const auto it = s.labels.find(k);
        match = match && it != s.labels.end() && it->second == v;
      }
      if (match) {
        return s.value;
      }
    }
  }
  return NAN;
}

}  // namespace snapkeep::test
