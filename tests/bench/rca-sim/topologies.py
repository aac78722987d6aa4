"""Call graphs of public microservice benchmarks, written down from memory
of their architecture diagrams and source: approximate (edge lists may miss
or add a call), but the shape - depth, fan-in on shared back ends, data
stores under services - is what matters for ranking. Plus random
power-law graphs. Each returns {service: {"kind": k, "deps": [...]}}."""
import random

def _g(edges, stores=()):
    g = {}
    for a, bs in edges.items():
        g.setdefault(a, {"kind": "service", "deps": []})
        for b in bs:
            g.setdefault(b, {"kind": "service", "deps": []})
            g[a]["deps"].append(b)
    for s, k in stores:
        g.setdefault(s, {"kind": k, "deps": []})["kind"] = k
    return g

def online_boutique():
    return _g({
        "frontend": ["adservice", "cartservice", "checkoutservice", "currencyservice",
                     "productcatalogservice", "recommendationservice", "shippingservice"],
        "checkoutservice": ["cartservice", "currencyservice", "emailservice", "paymentservice",
                            "productcatalogservice", "shippingservice"],
        "recommendationservice": ["productcatalogservice"],
        "cartservice": ["redis-cart"],
    }, [("redis-cart", "cache")])

def sock_shop():
    return _g({
        "front-end": ["catalogue", "carts", "orders", "user"],
        "catalogue": ["catalogue-db"],
        "carts": ["carts-db"],
        "orders": ["orders-db", "carts", "user", "payment", "shipping"],
        "user": ["user-db"],
        "shipping": ["rabbitmq"],
        "queue-master": ["rabbitmq"],
    }, [("catalogue-db", "database"), ("carts-db", "database"), ("orders-db", "database"),
        ("user-db", "database"), ("rabbitmq", "queue")])

def train_ticket():
    e = {
        "ts-ui-dashboard": ["ts-auth-service", "ts-user-service", "ts-travel-service", "ts-travel2-service",
                            "ts-preserve-service", "ts-preserve-other-service", "ts-order-service",
                            "ts-order-other-service", "ts-cancel-service", "ts-rebook-service",
                            "ts-execute-service", "ts-consign-service", "ts-food-service",
                            "ts-admin-basic-info-service", "ts-admin-order-service", "ts-admin-route-service",
                            "ts-admin-travel-service", "ts-admin-user-service", "ts-inside-payment-service",
                            "ts-verification-code-service", "ts-contacts-service", "ts-assurance-service"],
        "ts-auth-service": ["ts-verification-code-service"],
        "ts-travel-service": ["ts-basic-service", "ts-seat-service", "ts-route-service", "ts-train-service", "ts-order-service"],
        "ts-travel2-service": ["ts-basic-service", "ts-seat-service", "ts-route-service", "ts-train-service", "ts-order-other-service"],
        "ts-basic-service": ["ts-station-service", "ts-train-service", "ts-route-service", "ts-price-service"],
        "ts-seat-service": ["ts-order-service", "ts-order-other-service", "ts-config-service", "ts-travel-service"],
        "ts-preserve-service": ["ts-ticketinfo-service", "ts-seat-service", "ts-user-service", "ts-assurance-service",
                                "ts-station-service", "ts-security-service", "ts-food-service", "ts-consign-service",
                                "ts-contacts-service", "ts-order-service", "ts-travel-service", "ts-notification-service"],
        "ts-preserve-other-service": ["ts-ticketinfo-service", "ts-seat-service", "ts-user-service", "ts-assurance-service",
                                      "ts-station-service", "ts-security-service", "ts-food-service",
                                      "ts-consign-service", "ts-contacts-service", "ts-order-other-service",
                                      "ts-travel2-service"],
        "ts-ticketinfo-service": ["ts-basic-service"],
        "ts-security-service": ["ts-order-service", "ts-order-other-service"],
        "ts-cancel-service": ["ts-order-service", "ts-order-other-service", "ts-inside-payment-service",
                              "ts-user-service", "ts-notification-service"],
        "ts-rebook-service": ["ts-order-service", "ts-order-other-service", "ts-travel-service", "ts-travel2-service",
                              "ts-seat-service", "ts-inside-payment-service", "ts-station-service"],
        "ts-inside-payment-service": ["ts-payment-service", "ts-order-service", "ts-order-other-service"],
        "ts-execute-service": ["ts-order-service", "ts-order-other-service"],
        "ts-food-service": ["ts-food-map-service", "ts-travel-service", "ts-station-service"],
        "ts-consign-service": ["ts-consign-price-service"],
        "ts-order-service": ["ts-station-service", "ts-order-mongo"],
        "ts-order-other-service": ["ts-station-service", "ts-order-other-mongo"],
        "ts-route-service": ["ts-route-mongo"],
        "ts-user-service": ["ts-auth-service", "ts-user-mongo"],
        "ts-station-service": ["ts-station-mongo"],
        "ts-train-service": ["ts-train-mongo"],
        "ts-price-service": ["ts-price-mongo"],
        "ts-config-service": ["ts-config-mongo"],
        "ts-contacts-service": ["ts-contacts-mongo"],
        "ts-admin-basic-info-service": ["ts-station-service", "ts-train-service", "ts-config-service",
                                        "ts-price-service", "ts-contacts-service"],
        "ts-admin-order-service": ["ts-order-service", "ts-order-other-service"],
        "ts-admin-route-service": ["ts-route-service"],
        "ts-admin-travel-service": ["ts-travel-service", "ts-travel2-service"],
        "ts-admin-user-service": ["ts-user-service"],
        "ts-route-plan-service": ["ts-route-service", "ts-travel-service", "ts-travel2-service"],
        "ts-travel-plan-service": ["ts-route-plan-service", "ts-seat-service", "ts-travel-service", "ts-travel2-service"],
    }
    stores = [(s, "database") for s in ["ts-order-mongo", "ts-order-other-mongo", "ts-route-mongo", "ts-user-mongo",
                                         "ts-station-mongo", "ts-train-mongo", "ts-price-mongo", "ts-config-mongo",
                                         "ts-contacts-mongo"]]
    return _g(e, stores)

def social_network():
    return _g({
        "nginx-web-server": ["compose-post-service", "home-timeline-service", "user-timeline-service",
                             "user-service", "social-graph-service", "media-frontend"],
        "compose-post-service": ["text-service", "media-service", "unique-id-service", "user-service",
                                 "post-storage-service", "user-timeline-service", "home-timeline-service"],
        "text-service": ["url-shorten-service", "user-mention-service"],
        "url-shorten-service": ["url-shorten-mongodb", "url-shorten-memcached"],
        "user-mention-service": ["user-mongodb", "user-memcached"],
        "home-timeline-service": ["home-timeline-redis", "post-storage-service", "social-graph-service"],
        "user-timeline-service": ["user-timeline-redis", "user-timeline-mongodb", "post-storage-service"],
        "post-storage-service": ["post-storage-mongodb", "post-storage-memcached"],
        "social-graph-service": ["social-graph-mongodb", "social-graph-redis", "user-service"],
        "user-service": ["user-mongodb", "user-memcached"],
        "media-service": ["media-mongodb"],
        "media-frontend": ["media-mongodb"],
    }, [("url-shorten-mongodb", "database"), ("url-shorten-memcached", "cache"), ("user-mongodb", "database"),
        ("user-memcached", "cache"), ("home-timeline-redis", "cache"), ("user-timeline-redis", "cache"),
        ("user-timeline-mongodb", "database"), ("post-storage-mongodb", "database"),
        ("post-storage-memcached", "cache"), ("social-graph-mongodb", "database"),
        ("social-graph-redis", "cache"), ("media-mongodb", "database")])

def power_law(n, seed):
    """Preferential attachment DAG: service i calls 1-3 earlier services,
    chosen in proportion to (1 + in-degree), so a few shared back ends
    carry most callers; ~8% of services are data stores with no calls."""
    rnd = random.Random(seed)
    g = {f"svc-{i}": {"kind": "service", "deps": []} for i in range(n)}
    indeg = [1] * n
    for i in range(1, n):
        k = min(i, rnd.choice([1, 1, 2, 2, 3]))
        chosen = set()
        while len(chosen) < k:
            j = rnd.choices(range(i), weights=indeg[:i])[0] if i < 200 else _pick(rnd, indeg, i)
            chosen.add(j)
        for j in chosen:
            g[f"svc-{i}"]["deps"].append(f"svc-{j}")
            indeg[j] += 1
    for i in range(n):
        if not g[f"svc-{i}"]["deps"] and i > 0 and rnd.random() < 0.5:
            g[f"svc-{i}"]["kind"] = rnd.choice(["database", "cache", "queue"])
    return g

def _pick(rnd, w, i):
    # rejection sampling keeps large graphs fast
    m = max(w[:i])
    while True:
        j = rnd.randrange(i)
        if rnd.random() * m < w[j]:
            return j

TOPOLOGIES = {
    "online-boutique": online_boutique,
    "sock-shop": sock_shop,
    "train-ticket": train_ticket,
    "social-network": social_network,
    "powerlaw-1k": lambda: power_law(1000, 1),
}
