#pragma once
#include <napi.h>

// nftRun(script): runs an nft script as one transaction through libnftables in this process.
Napi::Value NftRun(const Napi::CallbackInfo &info);
