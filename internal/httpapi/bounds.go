package httpapi

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/voxfleet/vox/api"
)

// Bounds of the durations in request bodies, checked when the body is
// decoded (DecodeJSON), before the session manager sees them. Zero (or
// absent) is the default and always allowed.
const (
	// MaxDrainGrace bounds "grace" of POST /v1/drain.
	MaxDrainGrace = 24 * time.Hour
	// MaxDrainDeadline bounds "deadline" of POST /v1/drain.
	MaxDrainDeadline = 24 * time.Hour
	// MaxNoticeWindow bounds "window" of POST /v1/drain and /v1/reconnect.
	MaxNoticeWindow = time.Hour
	// MinEmptyTimeout and MaxEmptyTimeout bound a session's
	// "empty_timeout".
	MinEmptyTimeout = time.Second
	MaxEmptyTimeout = 24 * time.Hour
	// MaxDuration bounds every other duration field of a request body
	// (also those of routes added with RouteFunc).
	MaxDuration = 24 * time.Hour
)

// durationBounds are the bounds by JSON field name; other duration fields
// are bounded by [0, MaxDuration].
var durationBounds = map[string]struct{ min, max time.Duration }{
	"grace":         {0, MaxDrainGrace},
	"deadline":      {0, MaxDrainDeadline},
	"window":        {0, MaxNoticeWindow},
	"empty_timeout": {MinEmptyTimeout, MaxEmptyTimeout},
}

var (
	apiDurationType = reflect.TypeFor[api.Duration]()
	goDurationType  = reflect.TypeFor[time.Duration]()
)

// checkDurations refuses (400 invalid_request, naming the field and its
// bound) a duration field of v, at any depth, outside its bounds.
func checkDurations(v any) error {
	return checkDurationsValue(reflect.ValueOf(v), "")
}

func checkDurationsValue(v reflect.Value, path string) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			sf := t.Field(i)
			name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
			if name == "-" || !sf.IsExported() && !sf.Anonymous {
				continue
			}
			switch {
			case sf.Anonymous && name == "":
				name = path // promoted fields
			case name == "":
				name = joinPath(path, sf.Name)
			default:
				name = joinPath(path, name)
			}
			f := v.Field(i)
			if sf.Type == apiDurationType || sf.Type == goDurationType {
				if err := checkDuration(name, time.Duration(f.Int())); err != nil {
					return err
				}
				continue
			}
			if err := checkDurationsValue(f, name); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			if err := checkDurationsValue(v.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDuration checks one duration field; path is its JSON name, dotted
// below the body's top level.
func checkDuration(path string, d time.Duration) error {
	if d == 0 {
		return nil
	}
	name := path[strings.LastIndex(path, ".")+1:]
	b, ok := durationBounds[name]
	if !ok {
		b.max = MaxDuration
	}
	switch {
	case d < 0:
		return Errorf(http.StatusBadRequest, api.CodeInvalidRequest, "field %q must not be negative (%s)", path, d)
	case d < b.min:
		return Errorf(http.StatusBadRequest, api.CodeInvalidRequest,
			"field %q must be at least %s (or absent for the default), not %s", path, b.min, d)
	case d > b.max:
		return Errorf(http.StatusBadRequest, api.CodeInvalidRequest,
			"field %q must be at most %s, not %s", path, b.max, d)
	}
	return nil
}
