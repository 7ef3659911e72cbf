// The keylife C ABI from C++17: RAII handles (std::unique_ptr with the
// kl_*_free deleters), exceptions from result codes, std::vector buffers
// sized by the library. Built with g++ -std=c++17 -Wall -Wextra -Werror and
// run by scripts/test-c.sh.
#include <cstdint>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "keylife.h"

namespace keylife {

struct Error : std::runtime_error {
    kl_result code;
    Error(kl_result c, const std::string &what) : std::runtime_error(what), code(c) {}
};

inline void check(kl_result r) {
    if (r == KL_OK) return;
    std::string msg(kl_last_error(nullptr, 0), '\0');
    if (!msg.empty()) {
        kl_last_error(msg.data(), msg.size());
        msg.pop_back();  // the NUL
    }
    throw Error(r, std::string(kl_result_str(r)) + ": " + msg);
}

struct StoreFree {
    void operator()(kl_store *s) const { kl_store_free(s); }
};
struct KeyFree {
    void operator()(kl_key *k) const { kl_key_free(k); }
};
using Store = std::unique_ptr<kl_store, StoreFree>;
using Key = std::unique_ptr<kl_key, KeyFree>;

// Calls a (out, cap, out_len) function twice: size query, then the real call.
template <typename F>
std::vector<uint8_t> fetch(F f) {
    size_t need = 0;
    kl_result r = f(nullptr, 0, &need);
    if (r != KL_ERR_BUFFER_TOO_SMALL) check(r);
    std::vector<uint8_t> out(need);
    check(f(out.data(), out.size(), &need));
    out.resize(need);
    return out;
}

inline const uint8_t *bytes(const std::string &s) {
    return reinterpret_cast<const uint8_t *>(s.data());
}

}  // namespace keylife

int main() {
    using namespace keylife;
    try {
        kl_store *raw_store = nullptr;
        check(kl_store_open_memory("cpp-example", KL_ROLE_ADMINISTRATOR, &raw_store));
        Store store(raw_store);

        kl_key *raw_key = nullptr;
        check(kl_key_create(store.get(), KL_PURPOSE_AEAD, "orders", &raw_key));
        Key key(raw_key);
        check(kl_key_activate(key.get()));

        const std::string order = "order #1", tenant = "tenant=7";
        auto ct = fetch([&](uint8_t *o, size_t c, size_t *l) {
            return kl_key_encrypt(key.get(), bytes(order), order.size(), bytes(tenant),
                                  tenant.size(), o, c, l);
        });
        auto pt = fetch([&](uint8_t *o, size_t c, size_t *l) {
            return kl_store_decrypt(store.get(), ct.data(), ct.size(), bytes(tenant),
                                    tenant.size(), o, c, l);
        });
        std::cout << "decrypted: " << std::string(pt.begin(), pt.end()) << "\n";
        if (std::string(pt.begin(), pt.end()) != order) return 1;

        check(kl_key_deactivate(key.get(), "end of use"));
        try {
            fetch([&](uint8_t *o, size_t c, size_t *l) {
                return kl_key_encrypt(key.get(), bytes(order), order.size(), nullptr, 0, o, c, l);
            });
            return 1;  // must not get here
        } catch (const Error &e) {
            std::cout << "as expected: " << e.what() << "\n";
            if (e.code != KL_ERR_WRONG_STATE) return 1;
        }
    } catch (const Error &e) {
        std::cerr << e.what() << "\n";
        return 1;
    }
    return 0;
}
