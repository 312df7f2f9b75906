package main

import (
	"bytes"
	"fmt"
	"io"
	"reflect"
	"strings"
	"unicode/utf8"
)

// sanitize makes s safe to print on a terminal: every control character —
// C0 (tab and newline included: they would break the tables), DEL, C1 —
// and every byte that is not UTF-8 is shown escaped (\x1b, \r, \u009b,
// \xff) instead of being sent to the terminal, so an escape sequence in a
// session id, reason or error message prints as harmless text.
func sanitize(s string) string {
	clean := true
	for _, r := range s {
		if isControl(r) || r == utf8.RuneError {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x80 && isControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case isControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// isControl reports whether r is a C0 control, DEL or a C1 control.
func isControl(r rune) bool {
	return r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f
}

// printf is fmt.Fprintf for every line voxctl prints as text: each string
// argument (also of a string type such as api.State), error and
// fmt.Stringer is passed through sanitize first, except those of a %q
// verb, which Go quotes safely by itself. The format is voxctl's own and
// keeps its tabs and newlines.
func printf(w io.Writer, format string, args ...any) {
	verbs := formatVerbs(format)
	for i, a := range args {
		if i < len(verbs) && verbs[i] == 'q' {
			continue
		}
		switch v := a.(type) {
		case error:
			args[i] = sanitize(v.Error())
		case fmt.Stringer:
			args[i] = sanitize(v.String())
		default:
			if rv := reflect.ValueOf(a); rv.Kind() == reflect.String {
				args[i] = sanitize(rv.String())
			}
		}
	}
	fmt.Fprintf(w, format, args...)
}

// formatVerbs returns the verb of each argument of format, in order
// ("%-9s %d" → "sd"); %% takes no argument.
func formatVerbs(format string) []byte {
	var verbs []byte
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		i++
		for i < len(format) && strings.IndexByte("+-# 0123456789.*[]", format[i]) >= 0 {
			i++
		}
		if i < len(format) && format[i] != '%' {
			verbs = append(verbs, format[i])
		}
	}
	return verbs
}

// jsonSafe escapes the DEL and C1 characters encoding/json leaves raw in
// b (it escapes the C0 ones), so that --json output, still the same JSON,
// cannot drive a terminal either. Outside strings JSON is ASCII without
// controls, so every such character is inside a string.
func jsonSafe(b []byte) []byte {
	if !bytes.ContainsFunc(b, func(r rune) bool { return r == 0x7f || 0x80 <= r && r <= 0x9f }) {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || 0x80 <= r && r <= 0x9f {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}
