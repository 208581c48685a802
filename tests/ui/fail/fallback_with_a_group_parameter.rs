use appserver::{fallback, Uri};

#[fallback]
fn not_found(id: u64, uri: Uri) -> String {
    format!("{id} {uri}")
}

fn main() {}
