// SPDX-License-Identifier: Apache-2.0
// vigil's trigger patterns as YARA rules, for bench/run.sh. Generated from
// src/rules.c by bench/rules/sync.py --write: do not edit by hand.

rule card { strings: $a = /\b[2-6]([ -]?[0-9]){11}/ condition: $a }
rule iban { strings: $a = /[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}/ condition: $a }
rule ssn { strings: $a = /[0-9]{3}-[0-9]{2}-[0-9]{4}/ condition: $a }
rule ssn_keyword { strings: $a = /\b(ssn|social security( number| no\.?| #)?|soc\.? ?sec\.?( no\.?| #)?)\b/ nocase condition: $a }
rule aws_key_id { strings: $a = /\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/ condition: $a }
rule aws_secret { strings: $a = /aws_?secret_?(access_?)?key["']?\s*[:=>]+\s*["']?[A-Za-z0-9\/+]{40}/ nocase condition: $a }
rule github_token { strings: $a = /\bgh[pousr]_[A-Za-z0-9]{36}\b/ condition: $a }
rule github_pat { strings: $a = /\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b/ condition: $a }
rule slack { strings: $a = /\bxox[abposr]-[0-9A-Za-z]{10}/ condition: $a }
rule stripe { strings: $a = /\b[sr]k_live_[0-9A-Za-z]{24}/ condition: $a }
rule google { strings: $a = /\bAIza[0-9A-Za-z_\-]{35}/ condition: $a }
rule password { strings: $a = /\b([a-z0-9]+_)*(password|passwd|passwort|passphrase|pwd|pass)["']?\s*(=|:|=>|:=)/ nocase condition: $a }
rule pem { strings: $a = /-----END (RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----/ condition: $a }
rule pem_base64 { strings: $a = /LS0tLS1CRUdJTi|0tLS0tQkVHSU4g|tLS0tLUJFR0lOI/ condition: $a }
rule ppk { strings: $a = /PuTTY-User-Key-File-[23]: / condition: $a }
