// quotes.rs: the Rust side of the outbound HTTP sample (issue 16). No
// crates: it declares the wasi_experimental_http host functions itself,
// with the signatures of deislabs/wasi-experimental-http's witx (every
// pointer and length 32-bit, results through pointers, an error code
// returned), calls the sample site's stub API and shows what came back.
use std::env;

#[link(wasm_import_module = "wasi_experimental_http")]
extern "C" {
    fn req(
        url: *const u8, url_len: usize, method: *const u8, method_len: usize,
        headers: *const u8, headers_len: usize, body: *const u8, body_len: usize,
        status: *mut u16, handle: *mut u32,
    ) -> u32;
    fn header_get(
        handle: u32, name: *const u8, name_len: usize, value: *mut u8, value_len: usize,
        written: *mut usize,
    ) -> u32;
    fn body_read(handle: u32, buf: *mut u8, buf_len: usize, written: *mut usize) -> u32;
    fn close(handle: u32) -> u32;
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn main() {
    let url = env::var("API_URL").unwrap_or_default();
    let (method, headers) = ("GET", "accept:application/json\n");
    let (mut status, mut handle) = (0u16, 0u32);
    let rc = unsafe {
        req(url.as_ptr(), url.len(), method.as_ptr(), method.len(), headers.as_ptr(), headers.len(),
            std::ptr::null(), 0, &mut status, &mut handle)
    };
    if rc != 0 {
        // 7: not in allowed_hosts (or a private address), 11: the API failed.
        print!("Status: 502 Bad Gateway\nContent-Type: text/plain\n\ncalling {}: error code {}\n", url, rc);
        return;
    }
    let mut ctype = [0u8; 256];
    let mut n = 0usize;
    let name = "content-type";
    let ctype = match unsafe { header_get(handle, name.as_ptr(), name.len(), ctype.as_mut_ptr(), ctype.len(), &mut n) } {
        0 => String::from_utf8_lossy(&ctype[..n]).into_owned(),
        code => format!("(error code {})", code),
    };
    let mut body = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let mut n = 0usize;
        let rc = unsafe { body_read(handle, chunk.as_mut_ptr(), chunk.len(), &mut n) };
        if rc != 0 || n == 0 {
            break;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    unsafe { close(handle) };
    print!("Content-Type: text/html; charset=utf-8\n\n");
    print!("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Quotes (Rust)</title></head><body>");
    print!("<h1>Quotes, raw, from Rust</h1><p><code>{}</code> answered {} ({})</p>", html_escape(&url), status, html_escape(&ctype));
    print!("<pre>{}</pre></body></html>\n", html_escape(&String::from_utf8_lossy(&body)));
}
