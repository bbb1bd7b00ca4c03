//! Masking of caller numbers for logs: 13812341234 → 138****1234.

/// Keep the first 3 and last 4 digits, star the middle. Short numbers keep only their last 2 digits
/// so that even a short extension is never logged in full.
pub fn mask_phone(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let n = chars.len();
    if n >= 8 {
        let head: String = chars[..3].iter().collect();
        let tail: String = chars[n - 4..].iter().collect();
        format!("{head}{}{tail}", "*".repeat(n - 7))
    } else if n > 2 {
        let tail: String = chars[n - 2..].iter().collect();
        format!("{}{tail}", "*".repeat(n - 2))
    } else {
        "*".repeat(n)
    }
}

#[cfg(test)]
mod tests {
    use super::mask_phone;

    #[test]
    fn masks_mobile_landline_and_short_numbers() {
        assert_eq!(mask_phone("13812341234"), "138****1234");
        assert_eq!(mask_phone("02512345678"), "025****5678");
        assert_eq!(mask_phone("+8613812341234"), "+86*******1234");
        assert_eq!(mask_phone("1001"), "**01");
        assert_eq!(mask_phone("12"), "**");
        assert_eq!(mask_phone(""), "");
        assert_eq!(mask_phone("號碼號碼號碼號碼"), "號碼號*號碼號碼");
    }
}
