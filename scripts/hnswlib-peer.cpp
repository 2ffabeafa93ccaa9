// hnswlib-peer: the hnswlib side of scripts/bench-peers.  Builds an HNSW
// graph with hnswlib (Debian's libhnswlib-dev, header-only) on the given
// threads and times each query alone on one thread, as vp-bench's latency
// mode does.  Prints TSV rows: system index param build_s size_mb qps recall@10
// usage: hnswlib-peer BASE QUERY GT M EFC THREADS EF1,EF2,...
#include <hnswlib/hnswlib.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

template <typename T>
static std::vector<T> load(const char *path, int &dim)
{
	std::ifstream in(path, std::ios::binary);
	std::vector<T> out;
	int d = 0;
	while (in.read(reinterpret_cast<char *>(&d), 4)) {
		size_t at = out.size();
		out.resize(at + d);
		in.read(reinterpret_cast<char *>(&out[at]), 4 * (size_t)d);
		dim = d;
	}
	return out;
}

static double now()
{
	return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		std::fprintf(stderr, "usage: hnswlib-peer BASE QUERY GT M EFC THREADS EFS\n");
		return 2;
	}
	int d = 0, qd = 0, gd = 0;
	std::vector<float> base = load<float>(argv[1], d), query = load<float>(argv[2], qd);
	std::vector<int> gt = load<int>(argv[3], gd);
	size_t n = base.size() / d, nq = query.size() / d;
	int M = std::stoi(argv[4]), efc = std::stoi(argv[5]), threads = std::stoi(argv[6]);
	hnswlib::L2Space space(d);
	hnswlib::HierarchicalNSW<float> index(&space, n, M, efc);
	double t0 = now();
	std::vector<std::thread> pool;
	for (int t = 0; t < threads; t++)
		pool.emplace_back([&, t] {
			for (size_t i = t; i < n; i += threads)
				index.addPoint(&base[i * d], i);
		});
	for (auto &th : pool)
		th.join();
	double build = now() - t0;
	double size = (double)n * index.size_data_per_element_ / 1e6;
	std::stringstream efs(argv[7]);
	std::string tok;
	while (std::getline(efs, tok, ',')) {
		int ef = std::stoi(tok);
		index.setEf(ef < 10 ? 10 : ef);
		size_t hit = 0;
		double t1 = now();
		for (size_t q = 0; q < nq; q++) {
			auto res = index.searchKnn(&query[q * d], 10);
			std::set<int> truth(gt.begin() + q * gd, gt.begin() + q * gd + 10);
			while (!res.empty()) {
				hit += truth.count((int)res.top().second);
				res.pop();
			}
		}
		double secs = now() - t1;
		std::printf("hnswlib\tHNSW%d\tef=%d\t%.2f\t%.1f\t%.0f\t%.4f\n", M, ef, build, size,
			    nq / secs, hit / (10.0 * nq));
		std::fflush(stdout);
	}
	return 0;
}
