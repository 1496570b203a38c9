/* SPDX-License-Identifier: Apache-2.0 */
/* The rule table: each trigger pattern, how much context its validator needs, and the
 * validator that confirms it. Triggers are deliberately loose and cheap; validators
 * decide. Shapes matter to vectorscan's speed: a leading \b on the card trigger and a
 * generic country code on the IBAN trigger (the validator checks the registry) make
 * each run at over 1 GB/s instead of 300-400 MB/s on /usr/share. On digit-dense data
 * (logs, CSV) the card, IBAN and SSN patterns still ran at 0.5-1 GB/s: their triggers
 * come from the built-in finder (digit_triggers.c), which matches the same patterns. */
#include <hs.h>

#include "detect.h"

const vigil_rule vigil_rules[] = {
    {"card", "\\b[2-6](?:[ -]?[0-9]){11}", 0, VIGIL_CAT_PAYMENT_CARD, 40, 40, vigil_validate_card,
     VIGIL_BUILTIN_CARD},
    {"iban", "[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}", 0, VIGIL_CAT_IBAN, 16, 48, vigil_validate_iban,
     VIGIL_BUILTIN_IBAN},
    {"ssn", "[0-9]{3}-[0-9]{2}-[0-9]{4}", 0, VIGIL_CAT_SSN, 16, 16, vigil_validate_ssn,
     VIGIL_BUILTIN_SSN},
    {"ssn.keyword",
     "\\b(?:ssn|social security(?: number| no\\.?| #)?|soc\\.? ?sec\\.?(?: no\\.?| #)?)\\b",
     HS_FLAG_CASELESS, VIGIL_CAT_SSN, 40, 40, vigil_validate_ssn_keyword, VIGIL_BUILTIN_NONE},
    {"aws.key_id", "\\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\\b", 0, VIGIL_CAT_CREDENTIAL, 24, 300,
     vigil_validate_aws_key_id, VIGIL_BUILTIN_NONE},
    {"aws.secret", "aws_?secret_?(?:access_?)?key[\"']?\\s*[:=>]+\\s*[\"']?[A-Za-z0-9/+]{40}",
     HS_FLAG_CASELESS, VIGIL_CAT_CREDENTIAL, 60, 4, vigil_validate_aws_secret, VIGIL_BUILTIN_NONE},
    {"github.token", "\\bgh[pousr]_[A-Za-z0-9]{36}\\b", 0, VIGIL_CAT_CREDENTIAL, 100, 4,
     vigil_validate_github, VIGIL_BUILTIN_NONE},
    {"github.pat", "\\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\\b", 0, VIGIL_CAT_CREDENTIAL, 100,
     4, vigil_validate_github, VIGIL_BUILTIN_NONE},
    {"slack", "\\bxox[abposr]-[0-9A-Za-z]{10}", 0, VIGIL_CAT_CREDENTIAL, 20, 200,
     vigil_validate_slack, VIGIL_BUILTIN_NONE},
    {"stripe", "\\b[sr]k_live_[0-9A-Za-z]{24}", 0, VIGIL_CAT_CREDENTIAL, 40, 260,
     vigil_validate_stripe, VIGIL_BUILTIN_NONE},
    {"google", "\\bAIza[0-9A-Za-z_\\-]{35}", 0, VIGIL_CAT_CREDENTIAL, 40, 4, vigil_validate_google,
     VIGIL_BUILTIN_NONE},
    {"password",
     "\\b(?:[a-z0-9]+_)*(?:password|passwd|passwort|passphrase|pwd|pass)[\"']?\\s*"
     "(?:=|:|=>|:=)",
     HS_FLAG_CASELESS, VIGIL_CAT_CREDENTIAL, 80, 200, vigil_validate_password, VIGIL_BUILTIN_NONE},
    {"pem", "-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----", 0,
     VIGIL_CAT_PRIVATE_KEY, 32768, 4, vigil_validate_pem, VIGIL_BUILTIN_NONE},
    /* base64 of "-----BEGIN " at its three alignments (Kubernetes secrets). */
    {"pem.base64", "LS0tLS1CRUdJTi|0tLS0tQkVHSU4g|tLS0tLUJFR0lOI", 0, VIGIL_CAT_PRIVATE_KEY, 16,
     24576, vigil_validate_pem_base64, VIGIL_BUILTIN_NONE},
    {"ppk", "PuTTY-User-Key-File-[23]: ", 0, VIGIL_CAT_PRIVATE_KEY, 40, 16384, vigil_validate_ppk,
     VIGIL_BUILTIN_NONE},
};

const size_t vigil_rules_count = sizeof(vigil_rules) / sizeof(vigil_rules[0]);
