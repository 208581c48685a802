//! Examples of appserver: see the `[[example]]` entries of this crate's manifest.

/// Checks `document` with a real OpenAPI validator, Python's `openapi-spec-validator`
/// (installed with pip when missing); `Err` holds the validator's report.
pub fn validate_openapi(document: &serde_json::Value) -> Result<(), String> {
    use std::process::Command;
    let have = |module: &str| Command::new("python3").args(["-c", &format!("import {module}")]).status();
    if !have("openapi_spec_validator").is_ok_and(|s| s.success()) {
        let pip = ["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "openapi-spec-validator"];
        // A Debian-managed Python wants its consent to install with pip.
        let installed = [&pip[..], &[&pip[..], &["--break-system-packages"]].concat()]
            .iter()
            .any(|args| Command::new("python3").args(*args).status().is_ok_and(|s| s.success()));
        if !installed {
            return Err("cannot install openapi-spec-validator with `python3 -m pip`".into());
        }
    }
    let path = std::env::temp_dir().join(format!("openapi-{}-{:p}.json", std::process::id(), document));
    std::fs::write(&path, document.to_string()).map_err(|e| e.to_string())?;
    let out = Command::new("python3")
        .args(["-m", "openapi_spec_validator", path.to_str().unwrap_or_default()])
        .output()
        .map_err(|e| e.to_string())?;
    let _ = std::fs::remove_file(&path);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    match out.status.success() && report.contains("OK") {
        true => Ok(()),
        false => Err(report),
    }
}
