//go:build wasip1

package wasihttp

import "unsafe"

// The host functions, as deislabs/wasi-experimental-http's witx declares
// them: pointers and lengths are 32-bit, results go through pointers.

//go:wasmimport wasi_experimental_http req
//go:noescape
func req(url unsafe.Pointer, urlLen uint32, method unsafe.Pointer, methodLen uint32, headers unsafe.Pointer, headersLen uint32, body unsafe.Pointer, bodyLen uint32, status unsafe.Pointer, handle unsafe.Pointer) uint32

//go:wasmimport wasi_experimental_http close
func closeHandle(handle uint32) uint32

//go:wasmimport wasi_experimental_http headers_get_all
//go:noescape
func headersGetAll(handle uint32, buf unsafe.Pointer, bufLen uint32, written unsafe.Pointer) uint32

//go:wasmimport wasi_experimental_http body_read
//go:noescape
func bodyRead(handle uint32, buf unsafe.Pointer, bufLen uint32, written unsafe.Pointer) uint32

func rawReq(url, method, headers string, body []byte) (uint16, uint32, uint32) {
	var status uint16
	var handle uint32
	code := req(unsafe.Pointer(unsafe.StringData(url)), uint32(len(url)),
		unsafe.Pointer(unsafe.StringData(method)), uint32(len(method)),
		unsafe.Pointer(unsafe.StringData(headers)), uint32(len(headers)),
		unsafe.Pointer(unsafe.SliceData(body)), uint32(len(body)),
		unsafe.Pointer(&status), unsafe.Pointer(&handle))
	return status, handle, code
}

func rawClose(handle uint32) uint32 { return closeHandle(handle) }

func rawHeadersGetAll(handle uint32, buf []byte) (int, uint32) {
	var n uint32
	code := headersGetAll(handle, unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n))
	return int(n), code
}

func rawBodyRead(handle uint32, buf []byte) (int, uint32) {
	var n uint32
	code := bodyRead(handle, unsafe.Pointer(unsafe.SliceData(buf)), uint32(len(buf)), unsafe.Pointer(&n))
	return int(n), code
}
