(?-u)\b[2-6](?:[ -]?[0-9]){11}
(?-u)[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}
(?-u)[0-9]{3}-[0-9]{2}-[0-9]{4}
(?i-u)\b(?:ssn|social security(?: number| no\.?| #)?|soc\.? ?sec\.?(?: no\.?| #)?)\b
(?-u)\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b
(?i-u)aws_?secret_?(?:access_?)?key["']?\s*[:=>]+\s*["']?[A-Za-z0-9/+]{40}
(?-u)\bgh[pousr]_[A-Za-z0-9]{36}\b
(?-u)\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b
(?-u)\bxox[abposr]-[0-9A-Za-z]{10}
(?-u)\b[sr]k_live_[0-9A-Za-z]{24}
(?-u)\bAIza[0-9A-Za-z_\-]{35}
(?i-u)\b(?:[a-z0-9]+_)*(?:password|passwd|passwort|passphrase|pwd|pass)["']?\s*(?:=|:|=>|:=)
(?-u)-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----
(?-u)LS0tLS1CRUdJTi|0tLS0tQkVHSU4g|tLS0tLUJFR0lOI
(?-u)PuTTY-User-Key-File-[23]: 
