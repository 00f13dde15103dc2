# Multi-stage build: compile in the Rust image, ship a small Debian runtime
# with only the binary, conf/ and lua-plugins/.
#   docker build -t strait .
#   docker run -p 9080:9080 -p 7085:7085 -v $PWD/conf:/opt/strait/conf strait
FROM rust:1.85-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends protobuf-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY bench ./bench
RUN cargo build --release --locked --bin strait

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --home /opt/strait strait
WORKDIR /opt/strait
COPY --from=build /src/target/release/strait /usr/local/bin/strait
COPY conf ./conf
COPY lua-plugins ./lua-plugins
RUN mkdir -p .data && chown strait .data
USER strait
# proxy, admin (reserved), status
EXPOSE 9080 9180 7085
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/strait"]
CMD ["-c", "/opt/strait/conf/config.yaml"]
