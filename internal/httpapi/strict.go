package httpapi

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"github.com/voxfleet/vox/api"
)

// strictJSON checks body, one JSON value meant for a Go value of type t,
// for what encoding/json lets through, and returns it normalized for
// json.Unmarshal:
//
//   - a duplicate key in any object, at any depth, is refused
//     (duplicate_field): encoding/json keeps the last one silently;
//   - a key of a struct's object must be one of the struct's JSON names
//     exactly: encoding/json also takes them in another case
//     ("Participant_ID"), which is refused here as unknown_field (as is a
//     name the struct does not have at all);
//   - a null body is refused (malformed_json): it is not an object;
//   - a member of a struct's object whose value is null is dropped, so
//     that null means absent for every field (encoding/json would hand it
//     to a field's UnmarshalJSON, which may refuse it);
//   - data after the value is refused (malformed_json).
//
// Values of types with their own UnmarshalJSON or UnmarshalText, maps and
// interfaces are checked for duplicate keys only. Type mismatches are left
// to encoding/json, which reports them with the field's name.
func strictJSON(body []byte, t reflect.Type) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	w := &strictWalker{dec: dec}
	tok, err := dec.Token()
	if err != nil {
		return nil, w.syntaxError(err)
	}
	if tok == nil {
		return nil, Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "the request body must be a JSON object, not null")
	}
	if err := w.value(tok, t, ""); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "unexpected data after the JSON object")
	}
	return w.out.Bytes(), nil
}

// strictWalker reads tokens and writes the normalized JSON to out.
type strictWalker struct {
	dec *json.Decoder
	out bytes.Buffer
}

func (w *strictWalker) syntaxError(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return decodeError(err)
}

// value checks and writes the value that starts with tok, meant for t
// (nil: any).
func (w *strictWalker) value(tok json.Token, t reflect.Type, path string) error {
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			return w.object(t, path)
		case '[':
			return w.array(t, path)
		}
		return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "malformed JSON at byte %d", w.dec.InputOffset())
	case string:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("httpapi: re-encode a string: %w", err)
		}
		w.out.Write(b)
	case json.Number:
		w.out.WriteString(string(v))
	case bool:
		fmt.Fprint(&w.out, v)
	case nil:
		w.out.WriteString("null")
	default:
		return fmt.Errorf("httpapi: unexpected JSON token %T", tok)
	}
	return nil
}

func (w *strictWalker) next() (json.Token, error) {
	tok, err := w.dec.Token()
	if err != nil {
		return nil, w.syntaxError(err)
	}
	return tok, nil
}

func (w *strictWalker) object(t reflect.Type, path string) error {
	t = strictTarget(t)
	var fields map[string]reflect.Type
	var elem reflect.Type
	if t != nil {
		switch t.Kind() {
		case reflect.Struct:
			fields = jsonFields(t)
		case reflect.Map:
			elem = t.Elem()
		}
	}
	w.out.WriteByte('{')
	seen := map[string]bool{}
	first := true
	for {
		tok, err := w.next()
		if err != nil {
			return err
		}
		if tok == json.Delim('}') {
			w.out.WriteByte('}')
			return nil
		}
		key, ok := tok.(string)
		if !ok {
			return Errorf(http.StatusBadRequest, api.CodeMalformedJSON, "malformed JSON at byte %d", w.dec.InputOffset())
		}
		name := joinPath(path, key)
		if seen[key] {
			return Errorf(http.StatusBadRequest, api.CodeDuplicateField, "field %q appears more than once", name)
		}
		seen[key] = true
		vt := elem
		if fields != nil {
			ft, ok := fields[key]
			if !ok {
				return unknownFieldError(name, key, fields)
			}
			vt = ft
		}
		tok, err = w.next()
		if err != nil {
			return err
		}
		if tok == nil && fields != nil {
			continue // null: the field is absent
		}
		if !first {
			w.out.WriteByte(',')
		}
		first = false
		b, err := json.Marshal(key)
		if err != nil {
			return fmt.Errorf("httpapi: re-encode a key: %w", err)
		}
		w.out.Write(b)
		w.out.WriteByte(':')
		if err := w.value(tok, vt, name); err != nil {
			return err
		}
	}
}

func (w *strictWalker) array(t reflect.Type, path string) error {
	t = strictTarget(t)
	var elem reflect.Type
	if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
		elem = t.Elem()
	}
	w.out.WriteByte('[')
	for i := 0; ; i++ {
		tok, err := w.next()
		if err != nil {
			return err
		}
		if tok == json.Delim(']') {
			w.out.WriteByte(']')
			return nil
		}
		if i > 0 {
			w.out.WriteByte(',')
		}
		if err := w.value(tok, elem, fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownFieldError names the field, and the right spelling when only
// the case is wrong.
func unknownFieldError(name, key string, fields map[string]reflect.Type) *Error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return Errorf(http.StatusBadRequest, api.CodeUnknownField,
				"unknown field %q (field names are case-sensitive: %q)", name, f)
		}
	}
	return Errorf(http.StatusBadRequest, api.CodeUnknownField, "unknown field %q", name)
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// strictTarget is t without pointers, or nil when t's JSON is opaque to
// the walker: any, or a type that decodes itself.
func strictTarget(t reflect.Type) reflect.Type {
	if t == nil {
		return nil
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	p := reflect.PointerTo(t)
	if p.Implements(jsonUnmarshaler) || p.Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) ||
		t.Kind() == reflect.Interface {
		return nil
	}
	return t
}

// fieldCache holds jsonFields' answers by type.
var fieldCache sync.Map // reflect.Type -> map[string]reflect.Type

// jsonFields returns the JSON names of struct type t's fields, as
// encoding/json decodes them (tags, "-", embedded structs promoted, the
// shallowest name winning), with their types.
func jsonFields(t reflect.Type) map[string]reflect.Type {
	if m, ok := fieldCache.Load(t); ok {
		return m.(map[string]reflect.Type)
	}
	type found struct {
		typ    reflect.Type
		depth  int
		tagged bool
		count  int // names found at this depth
	}
	all := map[string]*found{}
	var walk func(t reflect.Type, depth int, visited map[reflect.Type]bool)
	walk = func(t reflect.Type, depth int, visited map[reflect.Type]bool) {
		if visited[t] {
			return
		}
		visited[t] = true
		defer delete(visited, t)
		for i := range t.NumField() {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			ft := sf.Type
			if sf.Anonymous && name == "" {
				et := ft
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					walk(et, depth+1, visited)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			tagged := name != ""
			if !tagged {
				name = sf.Name
			}
			f := all[name]
			switch {
			case f == nil || depth < f.depth:
				all[name] = &found{typ: ft, depth: depth, tagged: tagged, count: 1}
			case depth == f.depth && tagged && !f.tagged:
				all[name] = &found{typ: ft, depth: depth, tagged: true, count: 1}
			case depth == f.depth && tagged == f.tagged:
				f.count++
			}
		}
	}
	walk(t, 0, map[reflect.Type]bool{})
	m := make(map[string]reflect.Type, len(all))
	for name, f := range all {
		if f.count == 1 { // same depth, same name twice: encoding/json ignores both
			m[name] = f.typ
		}
	}
	fieldCache.Store(t, m)
	return m
}
