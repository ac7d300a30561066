use super::*;

#[test]
fn ttls_are_a_number_and_a_unit() {
    assert_eq!(parse_ttl("30d"), Ok(30 * 86_400_000));
    assert_eq!(parse_ttl("12h"), Ok(12 * 3_600_000));
    assert_eq!(parse_ttl(" 45m "), Ok(45 * 60_000));
    assert_eq!(parse_ttl("90s"), Ok(90_000));
    assert_eq!(parse_ttl("2w"), Ok(14 * 86_400_000));
    for bad in ["", "d", "30", "30 days", "1.5h", "-3d", "3y"] {
        let problem = parse_ttl(bad).unwrap_err();
        assert!(problem.contains("e.g. `30d`"), "{bad}: {problem}");
    }
    assert!(parse_ttl("0h").unwrap_err().contains("zero"));
    assert!(parse_ttl("4000d").unwrap_err().contains("ten years"));
    assert!(parse_ttl("99999999999999999999d").is_err());
}

#[test]
fn notes_must_be_short_non_empty_and_free_of_secrets() {
    assert_eq!(
        check_memory_content("  Deploy with `make deploy`.  "),
        Ok("Deploy with `make deploy`.".into())
    );
    assert!(check_memory_content(" \n ").unwrap_err().contains("empty"));
    let long = "word ".repeat(500);
    assert!(
        check_memory_content(&long)
            .unwrap_err()
            .contains("2000 bytes")
    );
    let secrets = [
        "the key is sk-proj-7f3a9c0de1b2a1b2c3d4e5f6",
        "use ghp_0123456789abcdefghijklmnopqrstuvwxyz",
        "AWS key AKIAIOSFODNN7EXAMPLE",
        "export OPENAI_API_KEY=abcdefgh12345678",
        "db password: hunter2hunter2",
        "token 'Zx8Qp2Lm9Tr4Vb7Nc1Kd6Hs3Jf5Gw0Ya'",
        "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
    ];
    for secret in secrets {
        let problem = check_memory_content(secret).unwrap_err();
        assert!(
            problem.contains("never store secrets"),
            "{secret}: {problem}"
        );
    }
    let fine = [
        "The API key is read from the `OPENAI_API_KEY` variable.",
        "Set TOKEN=$GITHUB_TOKEN in CI.",
        "Commit 3f2a9c0de1b2a1b2c3d4e5f60718293a4b5c6d7e fixed the build.",
        "Sources live in src/main/java/com/ExampleCompany/Service2Impl.",
        "Config keys: password_min_length=12 is enforced.",
        "See https://example.com/docs:8080 for the API.",
    ];
    for note in fine {
        assert!(check_memory_content(note).is_ok(), "{note}");
    }
}

#[test]
fn durations_are_described_in_their_largest_unit() {
    assert_eq!(describe_duration(30 * 86_400_000), "30 days");
    assert_eq!(describe_duration(3_600_000), "1 hour");
    assert_eq!(describe_duration(90_000), "1 minute");
    assert_eq!(describe_duration(5_000), "5 seconds");
}
