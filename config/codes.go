package config

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// CompileCodes compiles a failure-code pattern anchored at both ends, so
// "5.." matches 500 and 503 but never 4xx or "1500".
func CompileCodes(pattern string) (*regexp.Regexp, error) {
	if pattern == "" {
		return nil, errors.New("must not be empty")
	}
	re, err := regexp.Compile("^(?:" + pattern + ")$")
	if err != nil {
		return nil, fmt.Errorf("invalid regular expression %q: %w", pattern, err)
	}
	return re, nil
}

// checkCodes refuses a failure-code pattern that would make sentinel
// useless or dangerous, judged on every status code from 100 to 599: one
// matching no 5xx code never counts an outage, one matching a 1xx, 2xx or
// 3xx code counts successes as failures and pages for every workload.
// 4xx codes may count (429, say), since that is a choice some services make.
func checkCodes(pattern string) error {
	re, err := CompileCodes(pattern)
	if err != nil {
		if g := placeholderGuess(pattern); g != "" {
			return fmt.Errorf("%w; did you mean %q?", err, g)
		}
		return err
	}
	m := matchedCodes(re)
	switch {
	case len(m[5]) == 0:
		return fmt.Errorf("%q %s, so no server error would count as a failure and an outage would never page; %s",
			pattern, m.describe(), suggestCodes(pattern))
	case len(m[1])+len(m[2])+len(m[3]) > 0:
		return fmt.Errorf("%q %s, so successful requests would count as failures and every workload would page; %s",
			pattern, m.describe(), suggestCodes(pattern))
	}
	return nil
}

// codeClasses holds the matched status codes by class: [2] the 2xx ones.
type codeClasses [6][]int

func matchedCodes(re *regexp.Regexp) codeClasses {
	var m codeClasses
	for code := 100; code <= 599; code++ {
		if re.MatchString(strconv.Itoa(code)) {
			m[code/100] = append(m[code/100], code)
		}
	}
	return m
}

// describe says what the codes are, e.g. "matches every 4xx code and no
// 5xx" or "matches 200, every 5xx code and 3 1xx codes from 100 to 102".
func (m codeClasses) describe() string {
	var every, parts []string
	for class := 1; class <= 5; class++ {
		codes := m[class]
		switch {
		case len(codes) == 100:
			every = append(every, fmt.Sprintf("%dxx", class))
		case len(codes) > 3:
			parts = append(parts, fmt.Sprintf("%d %dxx codes from %d to %d", len(codes), class, codes[0], codes[len(codes)-1]))
		default:
			for _, c := range codes {
				parts = append(parts, strconv.Itoa(c))
			}
		}
	}
	if len(every) > 0 {
		parts = append([]string{"every " + and(every) + " code"}, parts...)
	}
	if len(parts) == 0 {
		return "matches no status code from 100 to 599"
	}
	s := "matches " + and(parts)
	if len(m[5]) == 0 {
		s += " and no 5xx"
	}
	return s
}

// suggestCodes names the pattern probably meant: placeholderGuess's, else
// the default.
func suggestCodes(pattern string) string {
	guess := placeholderGuess(pattern)
	if guess == "" {
		guess = "5.."
	}
	return fmt.Sprintf("did you mean %q (a regular expression matched against the whole code)?", guess)
}

// placeholderGuess reads "x" and "*" as placeholders for a digit, as in
// 5xx or 5**, and returns the pattern so rewritten when it is a good one;
// else "".
func placeholderGuess(pattern string) string {
	guess := strings.NewReplacer("x", ".", "X", ".", "*", ".").Replace(pattern)
	if guess == pattern || checkCodes(guess) != nil {
		return ""
	}
	return guess
}

// and joins words as English does: "a", "a and b", "a, b and c".
func and(words []string) string {
	if len(words) < 2 {
		return strings.Join(words, "")
	}
	return strings.Join(words[:len(words)-1], ", ") + " and " + words[len(words)-1]
}
