// Test keys for fuzz_jwt.cpp, made once with
//   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve
//   openssl pkey -pubout
// They sign nothing but fuzz inputs: never configure a Herald with them. Fixed (not generated
// at startup) so seeds and saved crash-* inputs holding RS256/ES256 tokens stay valid.
#pragma once

namespace herald::fuzz {

inline constexpr const char* kRsaPrivatePem = R"(-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCkQUzs61yHQPga
cQEnF2s6e3bUl0abm7gw4s4HrY3QFp4IhLk3xt3bx4tdjrk7BR0FQYBloj3e6Ul/
oaC7dMxpWxrRn2f6Lv6rRanqNKnQFkLq6VvbX4DS2ihAyojeL1lWAzbrgFnwDs1Z
54C+u5tBUpzP5ZRShEXI4dRNskGECFozQumDad1qQXqZBpZAE+2Q1Pfd4+eErQAg
w4A2TkgLzFpE0w3luk+3dfjE3CrPOinWxIO2wb/HfHOewcErXd+kJbWZoohV5MXn
Md38QEJ+dq1rFtZW5pxSRymEGA1JnOTOjRo0Gpk/OJylgSQ1Qv1vYiTHBzz1cFaJ
oLqX/dBfAgMBAAECggEAJrGFXBhzwx7wc1Ykld9j8LJuA1Whmf2cbdO4AkIFsrvp
PYt6kGOmFuSSdZcuFnO1auwLwaVvGshs+oaKNS6mCrmd/zykg2C3uIQgK159lFny
KKGRdIOydrlSmzS6+lBAJM18Dg094pmyEVhCUWwjfkdmTmlAQBIN2G0ulKEF4wKt
/XBdPUZLnUv35sOlL7L3pBPa6VSkq/O9QJ5l/bid7vUGFsDBxD8ZOaSzT4J6mzia
e8HxgzCi9usVteB/HNy7Lucb1w7Y2Fi9+XrNocvVANQoAtXVa83fVoaIV/1HxmcW
9hQKgQxcMrASIVwAH9QXeH834XJeyZ9sYKZ2LFQSoQKBgQDWCCzq1M6feOD/1I6D
s6+w/0njjpd6eJm5nCYmRuovRzhKZ/OBmwmIDne1k0Heo4r/YiaerDXggJiHaxvE
NuM5CtWNZzhn6RiQFS4p7SNV1wpqC6ATwMEMC9U9EF12qhoBu55KqmoZJU3quQJI
9tB5MZkMdaEjNZHUfgqtKlzA4QKBgQDEdnYiRdl76pGRKnBUWzk+CQhdPgTu1zBQ
t+AKvwUODgMaH1YM5q3NztnZbkeLJT0ajCfxaLquLUuZV6+OWP42A4HXOYIuKw6m
D0nRcudRgshSA89WI3HYqk2xvk/yFf/onim1VCHRMb+ze9G3cCgGjqTmEE+FOa9M
m9n91AB5PwKBgQDVHurrIuBkN0+ELzmBtyjZDDudFd2MHA6mne/26WJDlZ1dqcj1
Y1XIXu+gpHNQqHS9/BQMp9o2JJa9MVBCv4zevgULep7WCWtl/VEsem9XCHvcQJsz
UBpqTlYVKfiHMrYWx6XFH4/qXhUKBxNZaDsKkvKdT3wWvT7q4l7rM2WMwQKBgQCn
Z9nZ8nMTqBlJ/UOiXek09zVtXn+NlUfSQBxki8ie5Um3ZKRKcfX/vRbcs5+67YxX
pr4Scw8/g9E7ZQBu514WYH6vCo3nEUF2NujL1IFPb4WKfTybRbCo0tVJc8Vjn2Nk
sAESRhJa021qX0Ogb61riPjyIUvhVfoN6W+jXpbYuQKBgQCFProRlk94lJW85QU5
w5iJB0uJE7OpZTU/0ZkLNyllJBwn31Dw5x1n+xJFeRnOLtqTT9IS4oT0f/es3ruM
yJACCZkvVGALeTtOpRuUzTj+ARadx7nqUi3jMw7yL8tl+84488OSQfbBXDo1XXC/
VWA37L0RLk2JHwdoOSB6zwTVcA==
-----END PRIVATE KEY-----
)";

inline constexpr const char* kRsaPublicPem = R"(-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEApEFM7Otch0D4GnEBJxdr
Ont21JdGm5u4MOLOB62N0BaeCIS5N8bd28eLXY65OwUdBUGAZaI93ulJf6Ggu3TM
aVsa0Z9n+i7+q0Wp6jSp0BZC6ulb21+A0tooQMqI3i9ZVgM264BZ8A7NWeeAvrub
QVKcz+WUUoRFyOHUTbJBhAhaM0Lpg2ndakF6mQaWQBPtkNT33ePnhK0AIMOANk5I
C8xaRNMN5bpPt3X4xNwqzzop1sSDtsG/x3xznsHBK13fpCW1maKIVeTF5zHd/EBC
fnataxbWVuacUkcphBgNSZzkzo0aNBqZPzicpYEkNUL9b2Ikxwc89XBWiaC6l/3Q
XwIDAQAB
-----END PUBLIC KEY-----
)";

inline constexpr const char* kEcPrivatePem = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgWCwPZv5hEwqFYAxX
bKWKisnCdoFCDlDs/d05h3zTThihRANCAAT5up8LaJzUbgcCV/xNpxOoI1y8Fyrs
oOxVtNHV5eOcpWhG8J6wxOU3K2v/bqro5HkI7dX6eC+5yKz9slhQUxPS
-----END PRIVATE KEY-----
)";

inline constexpr const char* kEcPublicPem = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE+bqfC2ic1G4HAlf8TacTqCNcvBcq
7KDsVbTR1eXjnKVoRvCesMTlNytr/26q6OR5CO3V+ngvucis/bJYUFMT0g==
-----END PUBLIC KEY-----
)";

}  // namespace herald::fuzz
