package wasi

import (
	"reflect"
	"unsafe"

	"github.com/tetratelabs/wazero"
)

// A compiled module keeps what wazero decoded from its bytes for as long
// as it lives, the function bodies with it: for the sample site 56 MB of
// the Go heap at idle, as much again as the bytes of every module served.
// wazero reads a body only to validate and compile it, both done when
// CompileModule returns (wazevo compiles ahead of time; a module loaded
// from the file cache is validated and not compiled): instantiating and
// calling use the machine code, stack traces the bodies' offsets and the
// name section. So once a module is compiled its bodies are let go.
// wazero has no API for it: dropBodies reaches its compiled module's
// decoded module (the field "module", its "CodeSection" and each code's
// "Body") by reflection, and does nothing if wazero's types are not what
// it expects (TestDropBodies fails then, when wazero is upgraded).

// dropBodies releases the decoded function bodies of c, a module wazero
// compiled; it reports whether it could.
func dropBodies(c wazero.CompiledModule) bool {
	v := reflect.ValueOf(c)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	f := v.Elem().FieldByName("module")
	if !f.IsValid() || f.Kind() != reflect.Pointer || f.IsNil() {
		return false
	}
	// The field is unexported: the same pointer, reached through its
	// address, can be written.
	mod := reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Elem()
	if mod.Kind() != reflect.Struct {
		return false
	}
	code := mod.FieldByName("CodeSection")
	if !code.IsValid() || code.Kind() != reflect.Slice || code.Type().Elem().Kind() != reflect.Struct {
		return false
	}
	body, ok := code.Type().Elem().FieldByName("Body")
	if !ok || body.Type != reflect.TypeOf([]byte(nil)) {
		return false
	}
	for i := range code.Len() {
		code.Index(i).FieldByIndex(body.Index).SetZero()
	}
	return true
}
