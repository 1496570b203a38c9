(?-u)[2-6](?:[ -]?[0-9]){11}
(?-u)(?:AD|AE|AL|AT|AZ|BA|BE|BG|BH|BR|BY|CH|CR|CY|CZ|DE|DK|DO|EE|EG|ES|FI|FO|FR|GB|GE|GI|GL|GR|GT|HR|HU|IE|IL|IQ|IS|IT|JO|KW|KZ|LB|LC|LI|LT|LU|LV|MC|MD|ME|MK|MR|MT|MU|NL|NO|PK|PL|PS|PT|QA|RO|RS|SA|SC|SE|SI|SK|SM|ST|SV|TL|TN|TR|UA|VA|VG|XK)[0-9]{2} ?[A-Z0-9]{4}
(?-u)[0-9]{3}-[0-9]{2}-[0-9]{4}
(?i-u)\b(?:ssn|social security(?: number| no\.?| #)?|soc\.? ?sec\.?(?: no\.?| #)?)\b
(?-u)\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b
(?i-u)aws_?secret_?(?:access_?)?key["']?\s*[:=>]+\s*["']?[A-Za-z0-9/+]{40}
(?-u)\bgh[pousr]_[A-Za-z0-9]{36}\b
(?-u)\bgithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}\b
(?-u)\bxox[abposr]-[0-9A-Za-z]{10}
(?-u)\b[sr]k_live_[0-9A-Za-z]{24}
(?-u)\bAIza[0-9A-Za-z_\-]{35}
(?i-u)\b(?:[a-z0-9]+_)?(?:password|passwd|passwort|passphrase|pwd|pass)["']?\s*(?:=|:|=>|:=)
(?-u)-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |ANY )?PRIVATE KEY-----
(?-u)LS0tLS1CRUdJTi
(?-u)LS0tQkVHSU4g
(?-u)LS0tLUJFR0lOIA
(?-u)PuTTY-User-Key-File-[23]: 
