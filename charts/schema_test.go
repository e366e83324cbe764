package charts

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/sentinel-sre/sentinel/config"
)

var update = flag.Bool("update", false, "rewrite the config part of values.schema.json from config.Config")

// durationPattern is what time.ParseDuration accepts, in the units people
// write ("15s", "1m30s", "0").
const durationPattern = `^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$`

// positivePattern is durationPattern with at least one part above zero.
const positivePattern = `^(` + durationPart + `)*([0-9]*[1-9][0-9]*(\.[0-9]+)?|[0-9]+\.[0-9]*[1-9][0-9]*)` + durationUnit +
	`(` + durationPart + `)*$`

const (
	durationUnit = `(ns|us|µs|ms|s|m|h)`
	durationPart = `[0-9]+(\.[0-9]+)?` + durationUnit
)

// configSchema derives the JSON schema of the values' config section from
// config.Config's yaml tags and types, so the chart's schema and sentinel's
// strict decoding reject the same unknown keys and mistyped values, and
// from config.Bounds and config.Enums, so it refuses the values Validate
// refuses for each key alone. path is "config" and the dotted keys below.
func configSchema(t reflect.Type, path string) map[string]any {
	key := strings.TrimPrefix(path, "config.")
	if e, ok := config.Enums()[key]; ok {
		return map[string]any{"enum": e}
	}
	if t == reflect.TypeOf(time.Duration(0)) {
		if slices.Contains(config.PositiveDurations(), key) {
			return map[string]any{"type": "string", "pattern": positivePattern}
		}
		return map[string]any{"type": "string", "pattern": durationPattern}
	}
	switch t.Kind() {
	case reflect.Struct:
		props := map[string]any{}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "" || name == "-" || !f.IsExported() {
				continue
			}
			props[name] = configSchema(f.Type, path+"."+name)
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": configSchema(t.Elem(), path+"[]")}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": configSchema(t.Elem(), path+".*")}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return withBound(map[string]any{"type": "integer"}, key)
	case reflect.Float64:
		return withBound(map[string]any{"type": "number"}, key)
	}
	panic("configSchema: no schema for " + path + " of type " + t.String())
}

// withBound adds config.Bounds' limits of key to a numeric schema.
func withBound(s map[string]any, key string) map[string]any {
	b := config.Bounds()[key]
	for name, v := range map[string]*float64{"minimum": b.Minimum, "exclusiveMinimum": b.ExclusiveMinimum,
		"maximum": b.Maximum, "exclusiveMaximum": b.ExclusiveMaximum} {
		if v != nil {
			s[name] = *v
		}
	}
	return s
}

func readSchema(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("sentinel", "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	return s
}

// The schema's config section is config.Config's (run with -update after
// changing the configuration's keys).
func TestSchemaCoversConfig(t *testing.T) {
	s := readSchema(t)
	props := s["properties"].(map[string]any)
	want := configSchema(reflect.TypeOf(config.Config{}), "config")
	want["$comment"] = "generated from config.Config: go test ./charts -run TestSchemaCoversConfig -update"
	// Through JSON, so both sides have the same types.
	b, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	var wantJSON map[string]any
	if err := json.Unmarshal(b, &wantJSON); err != nil {
		t.Fatal(err)
	}
	if *update {
		props["config"] = wantJSON
		var out bytes.Buffer
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("sentinel", "values.schema.json"), out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(wantJSON, props["config"]); diff != "" {
		t.Errorf("values.schema.json's config differs from config.Config (go test ./charts -run TestSchemaCoversConfig -update) (-want +got):\n%s", diff)
	}
}
