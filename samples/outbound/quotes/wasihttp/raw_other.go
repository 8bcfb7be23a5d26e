//go:build !wasip1

package wasihttp

// Outside WASI there are no host functions: every request fails, so that
// code using the package still builds and its tests run on the host.

func rawReq(url, method, headers string, body []byte) (uint16, uint32, uint32) {
	return 0, 0, uint32(errNotWASI)
}
func rawClose(uint32) uint32                        { return uint32(errNotWASI) }
func rawHeadersGetAll(uint32, []byte) (int, uint32) { return 0, uint32(errNotWASI) }
func rawBodyRead(uint32, []byte) (int, uint32)      { return 0, uint32(errNotWASI) }
