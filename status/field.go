package status

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
)

// Field is one value of a Desc, with values for the Desc's label names.
// Build it with Desc.Field, which checks it.
type Field struct {
	Desc        *Desc
	LabelValues []string
	Value       any
}

// Field returns a field of d. It panics when the number of label values does
// not match d's label names or when v's type does not suit d's kind: a counter
// holds a non-negative int, int32, int64, uint32 or uint64; a gauge any
// integer, float or bool (0/1); an info a string. A mistake here is a
// programmer error that would otherwise show up as a wrong metric.
func (d *Desc) Field(v any, labelValues ...string) Field {
	if len(labelValues) != len(d.labelNames) {
		panic(fmt.Sprintf("status: field %q: %d label values for labels %q", d.name, len(labelValues), d.labelNames))
	}
	if !d.kind.accepts(v) {
		panic(fmt.Sprintf("status: field %q: a %s cannot hold %T %v", d.name, d.kind, v, v))
	}
	return Field{Desc: d, LabelValues: slices.Clone(labelValues), Value: v}
}

func (k Kind) accepts(v any) bool {
	switch k {
	case Counter:
		switch x := v.(type) {
		case int:
			return x >= 0
		case int32:
			return x >= 0
		case int64:
			return x >= 0
		case uint32, uint64:
			return true
		}
	case Gauge:
		switch v.(type) {
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, float32, float64, bool:
			return true
		}
	case Info:
		_, ok := v.(string)
		return ok
	}
	return false
}

// Float returns the value as an exporter samples it: 1 for an info (its string
// goes in a label), 0 or 1 for a bool, NaN for a value no Desc accepts.
func (f Field) Float() float64 {
	if f.Desc != nil && f.Desc.kind == Info {
		return 1
	}
	rv := reflect.ValueOf(f.Value)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return float64(rv.Int())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return float64(rv.Uint())
	case reflect.Float32, reflect.Float64:
		return rv.Float()
	case reflect.Bool:
		if rv.Bool() {
			return 1
		}
		return 0
	}
	return math.NaN()
}

// Labels returns the Desc's label names zipped with the field's values.
func (f Field) Labels() Labels {
	if f.Desc == nil {
		return nil
	}
	n := min(len(f.Desc.labelNames), len(f.LabelValues))
	l := make(Labels, n)
	for i := range n {
		l[i] = Label{Name: f.Desc.labelNames[i], Value: f.LabelValues[i]}
	}
	return l
}

// number formats a numeric value the same way for text and JSON: integers
// stay integers (a uint64 counter must not lose digits in a float), floats in
// the shortest form that reads back the same, bools as 0/1. ok is false for a
// string, for NaN and ±Inf (JSON has no number for them) and for other types.
func number(v any) (s string, ok bool) {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10), true
	case reflect.Float32, reflect.Float64:
		x := rv.Float()
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return "", false
		}
		// The type's own size, so float32(0.1) reads 0.1, not 0.10000000149011612.
		return strconv.FormatFloat(x, 'g', -1, rv.Type().Bits()), true
	case reflect.Bool:
		if rv.Bool() {
			return "1", true
		}
		return "0", true
	}
	return "", false
}
