package main

import (
	"fmt"
	"math"
	"strings"
)

// NotMeasured stands for every number a run did not produce.
const NotMeasured = "not measured"

// group3 puts thousands separators into an integer string.
func group3(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// num formats x with dec decimals and thousands separators.
func num(x float64, dec int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return NotMeasured
	}
	s := fmt.Sprintf("%.*f", dec, x)
	ip, fp, _ := strings.Cut(s, ".")
	if fp != "" {
		return group3(ip) + "." + fp
	}
	return group3(ip)
}

// st formats a Stat as "median (min–max)", the range left out when there
// is one repetition or none to speak of; values are multiplied by scale.
func st(s Stat, ok bool, scale float64, dec int) string {
	if !ok {
		return NotMeasured
	}
	m := num(s.Median*scale, dec)
	lo, hi := num(s.Min*scale, dec), num(s.Max*scale, dec)
	if s.N <= 1 || lo == hi {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, lo, hi)
}

// dur formats microseconds readably (µs below 1 ms, ms above).
func dur(us float64) string {
	switch {
	case math.IsNaN(us):
		return NotMeasured
	case us >= 1000:
		return num(us/1000, 2) + " ms"
	default:
		return num(us, 0) + " µs"
	}
}

// stDur formats a Stat of microseconds.
func stDur(s Stat, ok bool) string {
	if !ok {
		return NotMeasured
	}
	m, lo, hi := dur(s.Median), dur(s.Min), dur(s.Max)
	if s.N <= 1 || lo == hi {
		return m
	}
	return fmt.Sprintf("%s (%s–%s)", m, lo, hi)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
