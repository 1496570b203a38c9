// SPDX-License-Identifier: Apache-2.0
// vigil's trigger patterns as YARA rules, for bench/run.sh. Generated from
// src/rules.c by bench/rules/sync.py --write: do not edit by hand.

rule card { strings: $a = /[2-6]([ -]?[0-9]){11}/ condition: $a }
rule iban { strings: $a = /(AD|AE|AL|AT|AZ|BA|BE|BG|BH|BR|BY|CH|CR|CY|CZ|DE|DK|DO|EE|EG|ES|FI|FO|FR|GB|GE|GI|GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|MC|MD|ME|MK|MR|MT|MU|NL|NO|PK|PL|PS|PT|QA|RO|RS|SA|SC|SE|SI|SK|SM|ST|SV|TL|TN|TR|UA|VA|VG|XK)[0-9]{2} ?[A-Z0-9]{4}/ condition: $a }
rule ssn { strings: $a = /[0-9]{3}-[0-9]{2}-[0-9]{4}/ condition: $a }
rule ssn_keyword { strings: $a = /\b(ssn|social security( number| no\.?| #)?|soc\.? ?sec\.?( no\.?| #)?)\b/ nocase condition: $a }
rule aws_key_id { strings: $a = /\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/ condition: $a }
rule aws_secret { strings: $a = /aws_?secret_?(access_?)?key["']?\s*[:=>]+\s*["']?[A-Za-z0-9\/+]{40}/ nocase condition: $a }
rule github_token { strings: $a = /\bgh[pousr]_[A-Za-z0-9]{36}\b/ condition: $a }
rule github_pat { strings: $a = /\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b/ condition: $a }
rule slack { strings: $a = /\bxox[abposr]-[0-9A-Za-z]{10}/ condition: $a }
rule stripe { strings: $a = /\b[sr]k_live_[0-9A-Za-z]{24}/ condition: $a }
rule google { strings: $a = /\bAIza[0-9A-Za-z_\-]{35}/ condition: $a }
rule password { strings: $a = /\b([a-z0-9]+_)?(password|passwd|passwort|passphrase|pwd|pass)["']?\s*(=|:|=>|:=)/ nocase condition: $a }
rule pem { strings: $a = /-----END (RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----/ condition: $a }
rule pem_base64_0 { strings: $a = /LS0tLS1CRUdJTi/ condition: $a }
rule pem_base64_1 { strings: $a = /LS0tQkVHSU4g/ condition: $a }
rule pem_base64_2 { strings: $a = /LS0tLUJFR0lOIA/ condition: $a }
rule ppk { strings: $a = /PuTTY-User-Key-File-[23]: / condition: $a }
