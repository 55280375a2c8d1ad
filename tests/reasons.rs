//! The README's list of reason codes is `Reason::ALL`, word for word.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use meshguard::reason::Reason;

fn rendered() -> String {
    let mut lines = vec![
        "| outcome | reason | status | meaning |".to_owned(),
        "|---|---|---|---|".to_owned(),
    ];
    for reason in Reason::ALL {
        lines.push(format!(
            "| {} | `{}` | {} | {} |",
            reason.outcome().code(),
            reason.code(),
            reason.status(),
            reason.describe()
        ));
    }
    lines.join("\n")
}

#[test]
fn the_readme_lists_every_reason_code_as_the_code_defines_it() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- reasons:begin -->\n")
        .nth(1)
        .and_then(|rest| rest.split("\n<!-- reasons:end -->").next())
        .expect("README.md has the reasons block");
    assert_eq!(
        block,
        rendered(),
        "README.md's reason table is stale; replace the block with:\n{}",
        rendered()
    );
}
