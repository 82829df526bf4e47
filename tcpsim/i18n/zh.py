"""中文: the terms of Chinese networking textbooks (谢希仁《计算机网络》 and the user's own
material in ../shared/seeds/): 套接字, 三次握手, 连接建立/数据传送/连接释放阶段, 序号, 确认号,
半关闭, 被动方式.  State names, flags, errno names and kernel functions stay as written."""

MESSAGES: dict[str, str] = {
    # -- run ----------------------------------------------------------------------------------
    "run.title": "tcpsim {source}：{program}",
    "source.model": "模型",
    "source.lab": "真实内核",
    "source.pcap": "抓包",
    "source.trace": "跟踪的程序",
    "source.packetdrill": "packetdrill",
    "run.columns": "       t ms  进程     事件",
    "run.hint.explain": "加上 --explain 可看到每一步发生的原因（--lang en 为英文）。",
    "call.blocks": "{head} …… 阻塞",
    "call.returns": "…… {name} 返回",
    "call.over": "…… {text} 结束",
    "state.queue": "（全连接队列 {queue}，backlog {backlog}）",
    "state.freed": "  （已释放）",
    "state.table": "  （在内核的套接字表中）",
    "summary.counts": "{segments} 个报文段，{calls} 次调用；",
    "summary.differ": "{n} 个结果与程序的预期不符",
    "summary.matched": "所有预期结果都相符",
    "summary.end": "结束时：{sockets}",
    "summary.timewait": "（TIME_WAIT 持续 60 秒）",
    "wrote.segments": "已将 {n} 个报文段写入 {path}",
    "wrote.trace": "已将轨迹写入 {path}",
    "wrote.file": "已写入 {path}",
    # -- phases -------------------------------------------------------------------------------
    "phase.0": "连接建立阶段",
    "phase.1": "数据传送阶段",
    "phase.2": "连接释放阶段",
    "phase.note.0": "三次握手",
    "phase.note.1": "数据及其确认",
    "phase.note.2": "四次挥手：每个方向各一个 FIN 和 ACK",
    # -- verify -------------------------------------------------------------------------------
    "verify.incomplete": "不完整 {name}：lab 的抓包丢失了 {n} 帧（内核对其包套接字的丢弃计数），内核的交换不完整，因此不做比较；请在较空闲的机器上重新运行",
    "verify.match": "一致 {name}：{segments} 个报文段、{calls} 个调用结果和 {states} 次状态变化都与"
                    "内核（{kernel}）相符；模型配置 {profile}",
    "verify.differs": "不一致 {name}：模型（配置 {profile}）与内核（{kernel}）之间有 {n} 处差异：",
    "verify.match.exchange": "一致 {name}：内核（{kernel}）给出的是该程序 {total} 种交互中的第 {k} 种："
                             "{segments} 个报文段、{calls} 个调用结果和最终状态都相符；模型配置 {profile}",
    "verify.outside": "不一致 {name}：内核（{kernel}）的交互不是该程序 {total} 种交互中的任何一种；"
                      "最接近的是第 {k} 种（模型配置 {profile}），{n} 处差异：",
    "verify.more": "  …… 另有 {n} 处",
    "verify.col.program": "程序",
    "verify.col.verdict": "结论",
    "verify.col.segments": "报文段",
    "verify.col.calls": "调用",
    "verify.col.differences": "差异",
    "verdict.incomplete": "不完整",
    "verdict.match": "一致",
    "verdict.differs": "不一致",
    # -- verify 的差异（trace/diff.py） ------------------------------------------------------
    "diff.where.kernel": "在内核上",
    "diff.where.capture": "在抓包中",
    "diff.field": "{field} 在模型中是 {model}，{where}却是 {seen}",
    "diff.segment": "第 {i} 个报文段（{what}）：{parts}",
    "diff.who.model": "模型多发送了",
    "diff.who.kernel": "内核多发送了",
    "diff.who.capture": "抓包中多出",
    "diff.count.segments": "{who} {n} 个报文段，第一个是 {what}（模型中 {m} 个，{where} {k} 个）",
    "diff.gap": "第 {i} 个报文段（{what}）在模型中比前一个调用或报文段晚 {gm} ms，{where}却晚 "
                "{gk} ms",
    "diff.call": "第 {line} 行 {process}：{text}",
    "diff.call.order": "第 {i} 个调用：模型执行第 {line} 行（{process}：{text}，{kind}），内核却执行 "
                       "{what}（{kind_k}）",
    "diff.call.blocked": "{what} 在模型中{m}，在内核上却{k}",
    "diff.blocks": "阻塞",
    "diff.returns": "立即返回",
    "diff.call.result": "{what} 在模型中返回 {m}，在内核上却返回 {k}",
    "diff.count.calls": "模型记录了 {m} 个调用事件，内核记录了 {k} 个",
    "diff.wait": "{what} 在模型中等待 {dm} ms，在内核上却等待 {dk} ms",
    "diff.drops": "net 第 {line} 行在模型中丢弃 {m} 个报文段，在内核上却丢弃 {k} 个",
    "diff.nothing_yet": "尚无结果（阻塞中）",
    "diff.sep": "；",
    "diff.never": "（从未出现）",
    "diff.state": "套接字 {label} 在模型中经历 {m}，在内核上却经历 {k}",
    "note.model": "模型配置 {profile}（Linux {release}），种子 {seed}",
    "note.capture_lost": "抓包丢失了 {n} 帧（内核从 lab 的包套接字丢弃了它们）：显示的报文段并非完整的交换",
    "note.cc_unmodelled": "配置文件的拥塞控制算法是 {cc}，模型没有实现它：模型按 {modelled} 的规则运行（已建模的是 reno 和 cubic）",
    "note.cc_pinned": "拥塞控制 {cc}（lab 逐个套接字设置）；本机默认的 {default} 未建模",
    "note.congestion": "每个套接字都使用拥塞控制算法 {cc}（逐个用 TCP_CONGESTION 设置）；本机默认的是 {default}，模型没有实现它",
    "note.stall": "lab 在第 {a} 行与第 {b} 行之间用了 {ms} ms，而程序是紧接着执行它们的（机器繁忙）：其间可能有内核定时器触发，而模型中瞬时完成的调用不会遇到",
    "note.late": "lab 的延迟线放行报文段最多比预定时间晚了 {ms} ms（机器繁忙）：时间比较的容差相应放宽",
    "note.drops": "第 {line} 行（{text}）{verb} {n} 个报文段",
    "note.dropped": "丢弃了",
    "note.delayed": "推迟了",
    "note.duplicated": "复制了",
    "note.stuck": "提前停止：程序卡住了",
    # -- explanations: calls ------------------------------------------------------------------
    "why.cite": "［{ref}］",
    "why.call.socket": "socket() 请求内核创建一个新的 TCP 套接字，并返回套接字描述符；此时网络上"
                       "还没有任何报文段。",
    "why.call.bind": "bind()（绑定）为套接字指明本地地址和端口号；不发送报文段。",
    "why.call.listen": "listen()（收听）把套接字设置为被动方式：从此由内核自己应答 SYN、完成三次"
                       "握手（最多 backlog 个），不必等 accept()。",
    "why.call.accept": "accept()（接受）从全连接队列取出一个内核已完成三次握手的连接，并为它创建"
                       "新的套接字描述符。",
    "why.call.accept.blocks": "accept() 阻塞：在有握手完成之前，全连接队列是空的。",
    "why.call.connect": "三次握手完成后 connect() 返回：SYN-ACK 已到达，内核已发出最后的 ACK。",
    "why.call.connect.blocks": "connect() 发出 SYN，并阻塞等待三次握手完成。",
    "why.call.send": "send() 把数据复制到套接字的发送缓存后立即返回；内核在窗口允许时发送。返回"
                     "并不表示对方已经收到。",
    "why.call.recv": "recv() 交出已在接收缓存中的数据；内核在数据到达时就已确认，而不是现在。",
    "why.call.recv.eof": "recv() 返回 0：对方的 FIN 已到达，它之前的数据都已读完。这是数据流的"
                         "结束。",
    "why.call.recv.blocks": "recv() 阻塞：接收缓存为空，对方也没有关闭连接。",
    "why.call.close": "close() 释放描述符；内核自行完成连接的释放（发送 FIN；若有未读数据则发送 "
                      "RST）。",
    "why.call.close.shared": "close() 只释放本进程的描述符：fork() 之后同一个套接字在每个进程中各有一个描述符，内核在最后一个描述符关闭时才结束连接（发送 FIN 或 RST）。忘记关闭自己那份的服务器永远不会结束连接。",
    "why.call.dup": "dup() 为同一个套接字再给出一个描述符：其中一个 close() 时，只要另一个仍打开，就不发送任何报文。",
    "why.call.fork": "fork() 启动一个子进程，复制所有描述符：同样的套接字，现在被持有两次。教材中的服务器随后关闭各自不需要的：父进程关闭已连接套接字，子进程关闭监听套接字。",
    "why.call.close.listener": "对监听套接字调用 close() 即停止接受连接；仍在队列中的连接被复位。",
    "why.call.shutdown": "shutdown({how}) 只关闭一个方向：SHUT_WR 发送 FIN，但套接字仍可接收"
                         "（半关闭）。",
    "why.call.setsockopt": "setsockopt({option}) 改变内核此后处理这个套接字的方式；不发送报文段。",
    "why.call.getsockopt": "getsockopt({option}) 从内核读取套接字的一个设置或状态。",
    "why.call.fcntl": "fcntl() 读取或设置描述符的标志（O_NONBLOCK 使调用不再等待，而是返回 "
                      "EAGAIN 或 EINPROGRESS）。",
    "why.call.ioctl": "ioctl() 询问内核套接字队列里有多少字节：SIOCINQ 是已收到尚未读取的，"
                      "SIOCOUTQ 是已写入尚未被确认的，SIOCOUTQNSD 是已写入尚未发送的。",
    "why.call.poll": "poll() 报告套接字上哪些事件已就绪（有数据可读、可写、对方的 FIN、出错）。",
    "why.call.epoll_create": "epoll_create() 创建一个 epoll 实例：一个监视套接字、记录哪些已就绪的描述符。",
    "why.call.epoll_ctl": "epoll_ctl() 添加、修改或移除被监视的套接字；添加或修改时已就绪的套接字立即进入就绪列表。",
    "why.call.epoll_wait": "epoll_wait() 报告就绪列表中对所监视事件已就绪的套接字；内核唤醒套接字时"
                           "（数据入队、可写、状态变化）它进入列表，边沿触发（EPOLLET）的报告后即离开列表。",
    "why.call.epoll_wait.blocks": "epoll_wait() 等待：还没有被监视的套接字就绪。",
    "why.call.sleep": "进程暂停；其间内核照常运行定时器、应答报文段。",
    "why.call.exit": "进程退出：内核关闭它仍持有的所有描述符。",
    "why.call.return": "调用所等待的事件已经发生。",
    "why.step.time_wait": "完整的套接字把连接交给一个小的 TIME_WAIT 套接字后被释放；连接本身仍处于 "
                           "TIME_WAIT。",
    "why.step.listener_closed": "监听套接字已关闭，而这个连接还在它的全连接队列中：再也没有人能 "
                                "accept 它，于是被复位。",
    "why.state.new": "新建的套接字处于 CLOSE 状态（RFC 9293 中的 CLOSED）。",
    "why.state.seen": "内核报告 {socket} 处于 {state}。",
    # -- explanations: errors -----------------------------------------------------------------
    "why.errno.ECONNREFUSED": "对方用 RST 回答了 SYN：该端口上没有套接字在监听（ECONNREFUSED）。",
    "why.errno.ECONNRESET": "对方用 RST 异常终止了连接（ECONNRESET）。",
    "why.errno.EPIPE": "连接已不能发送：套接字已关闭写方向或已被复位（EPIPE）。",
    "why.errno.ETIMEDOUT": "重传全部用完仍无应答：内核放弃（ETIMEDOUT）。",
    "why.errno.EADDRINUSE": "另一个套接字占用着这个地址和端口（可能处于 TIME_WAIT）；"
                            "SO_REUSEADDR 允许监听套接字绑定在 TIME_WAIT 之上（EADDRINUSE）。",
    "why.errno.EINPROGRESS": "非阻塞的 connect()：SYN 已发出，三次握手在后台进行（EINPROGRESS）。",
    "why.errno.EAGAIN": "非阻塞调用本需等待，于是立即返回（EAGAIN）。",
    "why.errno.ENOTCONN": "套接字尚未连接（ENOTCONN）。",
    "why.errno.EISCONN": "套接字已经连接（EISCONN）。",
    "why.errno.EALREADY": "这个套接字上的 connect() 仍在进行中（EALREADY）。",
    "why.errno.EINVAL": "在套接字当前的状态下，这个调用没有意义（EINVAL）。",
    "why.errno.EBADF": "描述符没有打开（EBADF）。",
    "why.errno.other": "内核以 {errno} 拒绝了这个调用。",
    # -- explanations: segments ---------------------------------------------------------------
    "why.seg.syn": "三次握手的第一个报文段：SYN 携带客户的初始序号（相对序号 0）以及本内核提供的"
                   "选项（MSS、SACK、时间戳、窗口扩大因子）。",
    "why.seg.syn.again": "{ms} ms 内没有收到 SYN-ACK，重传计时器以相同的初始序号再次发送 SYN（第 "
                         "{n} 次重传）。还没有 RTT 样本时 RTO 为 1 s（RFC 6298 2.1）；本内核前 "
                         "{linear} 次重传间隔都是 1 s（tcp_syn_linear_timeouts），之后每次超时时间"
                         "加倍（指数退避），直到用完 tcp_syn_retries（或 TCP_SYNCNT）。",
    "why.seg.syn.again.doubling": "{ms} ms 内没有收到 SYN-ACK，重传计时器以相同的初始序号再次发送 "
                                  "SYN（第 {n} 次重传）。还没有 RTT 样本时 RTO 为 1 s（RFC 6298 "
                                  "2.1）；本内核每次重传后把它加倍（指数退避：1、2、4、8 s……；"
                                  "Linux 6.5 之前没有 tcp_syn_linear_timeouts），直到用完 "
                                  "tcp_syn_retries（或 TCP_SYNCNT）。",
    "why.seg.synack": "三次握手的第二个报文段：服务器自己的 SYN（它的初始序号，相对序号 0）和对"
                      "客户 SYN 的确认（确认号 1：SYN 占用一个序号）。",
    "why.seg.synack.again": "{ms} ms 内没有收到三次握手的最后一个 ACK，请求套接字的计时器再次发送 "
                            "SYN-ACK（第 {n} 次重传）：先等 1 s，以后每次加倍，最多 "
                            "tcp_synack_retries（5）次。",
    "why.seg.synack.resyn": "对方的 SYN 又来了一次（它没有收到 SYN-ACK），请求套接字立即再次用 "
                            "SYN-ACK 回答。",
    "why.seg.ack.handshake": "三次握手的第三个报文段：确认服务器的 SYN（确认号 1）。两端都进入 "
                             "ESTABLISHED。",
    "why.seg.data": "send() 的 {len} 字节数据：序号 {seq} 是第一个字节的编号；PSH 标出应用程序"
                    "所写数据的结尾。",
    "why.seg.data.again": "重传数据：第一次发送没有及时得到确认。",
    "why.seg.copy": "网络（net: duplicate 行）复制出的前一个报文段，不是 TCP 发的：发送方只发了"
                    "一次，接收方收到两次。",
    "why.seg.ack.filled": "空洞已填上：缺失的字节到达，接收方把乱序队列中等待的数据一并收下，立即"
                          "确认到 {ack}（RFC 5681 4.2：缺口填补时不推迟确认）。",
    "why.seg.ack.quick": "立即发送的纯确认（快速确认模式，如连接刚开始时）：确认号 {ack} 是期望"
                         "收到的下一个字节。",
    "why.seg.ack.delayed": "推迟确认：接收方等了 {ms} ms，想让自己的数据捎带确认，没有数据便单独"
                           "发送。",
    "why.seg.ack.fin": "对对方 FIN 的确认：FIN 占用一个序号，所以确认号是 {ack}。",
    "why.seg.ack.fin.delayed": "对对方 FIN 的确认（确认号 {ack}：FIN 占用一个序号），由推迟确认"
                               "定时器在 {ms} ms 后发出：应用程序还没有关闭，没有我们的 FIN 可以"
                               "捎带它。",
    "why.seg.fin.acks_fin": "捎带着对对方 FIN 确认的 FIN（确认号 {ack}）：close() 先于推迟确认"
                            "到期，所以连接释放只用三个报文段而不是四个。",
    "why.seg.window": "窗口更新：应用程序读走了数据，接收窗口重新变大。",
    "why.seg.ack": "纯确认：确认号 {ack} 确认它之前的全部数据。",
    "why.seg.probe.keepalive": "保活探测：连接已经静默了 TCP_KEEPIDLE（或自上一个未应答的探测起 "
                               "TCP_KEEPINTVL），保活定时器发送一个序号为 {seq} 的纯 ACK，比下一个要发"
                               "送的序号小一：对方已经收到过的字节，活着的对方必须回答。",
    "why.seg.ack.probe": "对探测的回答：它的序号是旧的，所以对方立即重复它的 ACK（重复确认，确认号 "
                         "{ack}），证明自己还活着。",
    "why.seg.data.rto": "超时重传（RTO）：序号 {seq} 的数据 {ms} ms 没有得到确认，重传计时器把最早"
                        "未确认的数据再发送一次。RTO 由测得的往返时间算出（RFC 6298：SRTT + 4 x "
                        "RTTVAR；Linux 让 4 x RTTVAR 至少为 tcp_rto_min，即 200 ms），每次超时后"
                        "加倍（指数退避）。超时被当作丢失：拥塞窗口降到一个报文段。",
    "why.seg.fin.rto": "超时重传（RTO）：FIN {ms} ms 没有得到确认，重传计时器再次发送它；下一次"
                       "超时时间加倍（指数退避，RFC 6298 5.5）。",
    "why.seg.data.tlp": "尾部丢失探测（TLP，RFC 8985）：最后发送的数据在探测超时（PTO）{ms} ms 内"
                        "没有得到确认，于是再发送一次，以引出一个确认（或指出缺了什么的 SACK），而"
                        "不必等到 RTO。有多个报文段在途时 PTO = 2 x SRTT + 2 ms；只有一个时为 2 x "
                        "SRTT + 200 ms（给对方的推迟确认留出时间），且不晚于 RTO；以整 jiffy（4 "
                        "ms）计，由定时器轮在一个时钟节拍上运行。探测不算丢失：拥塞窗口不变。",
    "why.seg.fin.tlp": "尾部丢失探测（TLP，RFC 8985）：最后发送的 FIN 在探测超时（PTO = 2 x SRTT "
                       "+ 2 ms，只有 FIN 在途时 + 200 ms）{ms} ms 内没有得到确认，于是再发送一次"
                       "以引出确认；对方往往只是在推迟确认。",
    "why.seg.data.loss": "超时后的恢复中再次发送：RTO 把所有未确认的数据都标为丢失，每个确认让"
                         "从一个报文段重新增长的拥塞窗口（慢开始）再发送其中一部分（RFC 6298 "
                         "5.4）。",
    "why.seg.data.frto": "超时重传得到确认时发送的新数据，而不是继续重传：F-RTO（RFC 5682）检验"
                         "这次 RTO 是否是虚假的。如果下一个确认覆盖了从未重传过的数据，说明原来"
                         "的报文段已经到达，窗口的缩减被撤销；如果它只用 SACK 确认这些新数据，"
                         "说明丢失是真的，恢复继续进行。",
    "why.seg.data.fast": "快速重传：对方的重复确认或 SACK 块表明这些字节缺失而后面的字节已经到达"
                         "（RFC 6675：三个重复确认或被 SACK 的报文段；RACK，RFC 8985：一个后发的"
                         "报文段比这一个晚了超过一个乱序窗口才被交付），于是立即重传，不等计时器；"
                         "PRR（RFC 6937）控制恢复期间发送的速度。",
    "why.seg.data.rack": "RACK 的乱序计时器（RFC 8985 6.3）：一个后发的报文段已被 SACK，而这一个"
                         "过了一个乱序窗口仍未被确认，于是被当作丢失而重传。",
    "why.seg.data.probe0": "静默 {ms} ms 后由探测计时器发送的数据：没有数据在途而有数据在等待，"
                           "tcp_write_wakeup() 发送对方窗口容得下的部分（窗口只打开一部分时，"
                           "这是携带数据的窗口探测），或者在 TCP_CORK 下发送塞子已经压了 200 ms "
                           "的数据。",
    "why.seg.probe.zero_window": "零窗口探测：对方窗口为 0 而有数据在等待，对方的窗口更新报文可能"
                                 "丢失，于是坚持计时器发送一个序号为 {seq} 的纯 ACK（比下一个字节"
                                 "小一），对方必须用它的窗口回答（距对方上一个报文段 {ms} ms）。"
                                 "等待时间从 RTO（至少 200 ms）开始，每个得到零窗口回答的探测后"
                                 "加倍，最长 120 s。",
    "why.seg.ack.dsack": "重复 SACK（D-SACK，RFC 2883）：接收方第二次收到序号 {left}-{right}，它"
                         "的确认（确认号 {ack}）在低于累积确认的 SACK 块中报告它们，发送方由此知道"
                         "它重发的内容早已到达（只是确认来晚了），可以撤销拥塞响应。",
    "why.seg.ack.sack": "选择确认（SACK，RFC 2018）：数据失序到达；确认号 {ack} 仍是期望的下一个"
                        "字节，SACK 块 {blocks} 告诉发送方后面哪些字节已经到达，它只需重传空缺"
                        "部分。",
    "why.seg.lost": "这个报文段在途中丢失（net: 第 {line} 行）：对方没有收到它。",
    "why.seg.rto.numbers": "这次的 RTO：srtt {srtt} ms + rttvar {rttvar} ms，向上取整到 jiffy，"
                           "因先前 {n} 次超时而加倍：{rto} ms。",
    "why.seg.tlp.one": "一个报文段在途：PTO = 2 x {srtt} ms + 200 ms，至多为 RTO {rto} ms：取整"
                       "到 jiffy 之前为 {pto} ms。",
    "why.seg.tlp.many": "{out} 个报文段在途：PTO = 2 x {srtt} ms + 2 ms = {pto} ms（取整到 jiffy "
                        "之前）。",
    "why.seg.probe0.numbers": "第 {n} 个探测：RTO {base} ms 加倍 {backoff} 次：{wait} ms。",
    "why.seg.keepalive.numbers": "连同这一个，未得到回答的探测共 {n} 个，TCP_KEEPCNT 为 {cnt}；"
                                 "TCP_KEEPIDLE {idle} s，TCP_KEEPINTVL {intvl} s。",
    "why.seg.fin": "FIN：这一方已没有数据要发送（close() 或 shutdown(SHUT_WR)）；FIN 占用一个"
                   "序号。",
    "why.seg.rst.refused": "RST 回答一个没有套接字监听的 SYN：连接被拒绝。",
    "why.seg.rst": "RST 立即异常终止连接，不经过连接释放：有未读数据时 close()、SO_LINGER "
                   "{{1, 0}}，或收到已不存在的连接的报文段。",
    # -- diagrams -----------------------------------------------------------------------------
    "diagram.states.title": "TCP 状态转换图（Linux 状态名；每个箭头是模型状态转换表中的一行）",
    "diagram.path.title": "{program}：每个套接字经过的状态",
    "diagram.legend.path": "编号：{sockets} 的各步",
    "diagram.rfc_name": "RFC 9293 和教材称这个状态为 {rfc}",
    "diagram.ev.close": "close",
    "diagram.ev.close_linger0": "close（linger 0）",
    "diagram.ev.close_unread": "close（有未读数据）",
    "diagram.ev.connect": "connect",
    "diagram.ev.created": "请求套接字创建",
    "diagram.ev.keepalive_out": "保活探测用尽",
    "diagram.ev.listen": "listen",
    "diagram.ev.rcv_ack": "收到 ACK",
    "diagram.ev.rcv_ack_of_fin": "收到 FIN 的 ACK",
    "diagram.ev.rcv_data_after_close": "close 后收到数据",
    "diagram.ev.rcv_fin": "收到 FIN",
    "diagram.ev.rcv_rst": "收到 RST",
    "diagram.ev.rcv_syn": "收到 SYN",
    "diagram.ev.rcv_syn_queue_full": "收到 SYN，队列满",
    "diagram.ev.rcv_synack": "收到 SYN,ACK",
    "diagram.ev.retries_out": "重传次数用尽",
    "diagram.ev.shutdown_wr": "shutdown(WR)",
    "diagram.ev.syn_retries_out": "SYN 重传用尽",
    "diagram.ev.synack_retries_out": "SYN,ACK 重传用尽",
    "diagram.ev.timer_fin_wait2": "FIN_WAIT2 超时",
    "diagram.ev.timer_syn": "SYN 超时",
    "diagram.ev.timer_synack": "SYN,ACK 超时",
    "diagram.ev.timer_timewait": "2MSL 超时",
    "diagram.act.send_syn": "发 SYN",
    "diagram.act.send_synack": "发 SYN,ACK",
    "diagram.act.send_ack": "发 ACK",
    "diagram.act.schedule_ack": "发 ACK",
    "diagram.act.send_fin": "发 FIN",
    "diagram.act.send_active_rst": "发 RST",
    "diagram.act.reset_reply": "发 RST",
    "diagram.act.reset_children": "重置队列中的连接",
    "diagram.start": "开始",
    "diagram.end": "终止状态",
    "diagram.legend.rfc": "与 RFC 9293 的状态图相同",
    "diagram.legend.other": "复位、异常终止、定时器、Linux 特有",
    "diagram.legend.spawn": "监听套接字收到 SYN 时创建请求套接字",
    "diagram.legend.order": "1、2、3……：按时间顺序统一编号",
    "ladder.title": "{program}：每次调用在网络上产生的报文段",
    "ladder.time": "时间（ms）",
    "ladder.gap": "{gap} 内没有任何事件",
    "tsg.title": "{program}（{source}）：时间-序号图，{src} > {dst}",
    "tsg.source.lab": "真实内核",
    "tsg.source.model": "模型",
    "tsg.time": "时间（毫秒）",
    "tsg.seq": "相对序号（字节）",
    "tsg.legend.data": "数据（新字节）",
    "tsg.legend.rtx": "重传",
    "tsg.legend.ack": "ACK",
    "tsg.legend.window": "窗口右边界",
    "tsg.legend.sack": "SACK 块",
    "ladder.matched": "与内核一致",
    "seg.copy": "（网络复制的副本）",
    "seg.copy.short": "（副本）",
    "ladder.unmatched": "与内核不一致",
    "ladder.lost": "丢失（net: 第 {line} 行）",
    # -- quiz ---------------------------------------------------------------------------------
    "quiz.intro": "{program} 练习：预测每个报文段和每次状态变化。直接回车可跳过一题。",
    "quiz.context": "到目前为止：{event}",
    "quiz.ask.flags": "{src} 向 {dst} 发送一个报文段。它的标志位（如 S、S.、.、P.、F.、R，或 SYN+ACK）？",
    "quiz.ask.seq": "它的相对序号？",
    "quiz.ask.ack": "它的相对确认号？",
    "quiz.ask.state": "{socket} 处于 {state}。下一个状态？",
    "quiz.right": "正确。",
    "quiz.wrong": "不对：{answer}。",
    "quiz.answer.segment": "[{flags}] 序号 {seq} 确认号 {ack} 长度 {len}",
    "quiz.state.names": "Linux 称之为 {linux}；RFC 9293 和多数教材称之为 {rfc}。",
    "quiz.state.request": "Linux 把处于 SYN-RECEIVED 的连接保存为监听套接字下的一个小小的请求套接字 NEW_SYN_RECV，直到握手的 ACK 把它变成完整的套接字（tcp_check_req()）；RFC 9293 和教材称这个状态为 SYN-RECEIVED（BSD：SYN_RCVD）。",
    "quiz.score": "答对 {right} 题，共 {total} 题。",
    # -- report -------------------------------------------------------------------------------
    "report.title": "tcpsim 报告：{program}",
    "report.generated": "由 tcpsim {version} 根据 Linux {release} 的模型生成（配置 {profile}），"
                        "种子 {seed}。",
    "report.program": "程序",
    "report.timeline": "时间线",
    "report.ladder": "时序图",
    "report.tsg": "时间-序号图",
    "report.states": "状态转换图",
    "report.explain": "每一步发生的原因",
    "report.verify": "与真实内核对照",
    "report.verify.match": "内核（{kernel}）的行为与模型完全一致：{segments} 个报文段、{calls} 个"
                           "调用结果以及套接字状态都相符。",
    "report.verify.differs": "内核（{kernel}）与模型有 {n} 处不同：",
    "report.verify.none": "未与内核对照：{reason}",
    "report.pcap": "内核的抓包（{n} 个报文段，pcap）：下载",
    "report.col.time": "t ms",
    "report.col.who": "进程",
    "report.col.event": "事件",
    "report.col.why": "原因",
    # -- the rows of the transition table (model/table.py) ------------------------------------
    "rule.CLOSE.listen": "listen() 使套接字成为被动方式，此后由它应答 SYN",
    "rule.CLOSE.connect": "connect() 发送 SYN，带新的初始序号和本内核提供的选项",
    "rule.LISTEN.rcv_syn": "发往监听套接字的 SYN 创建一个请求套接字，由它回复 SYN-ACK",
    "rule.LISTEN.rcv_syn_queue_full": "全连接队列已超过 backlog：Linux 悄悄丢弃这个 SYN",
    "rule.LISTEN.close": "关闭监听套接字会复位所有尚未被 accept 的连接",
    "rule.NEW_SYN_RECV.created": "请求套接字发送 SYN-ACK：自己的初始序号、对 SYN 的确认、协商好的选项",
    "rule.NEW_SYN_RECV.rcv_syn": "重传的 SYN 再次得到 SYN-ACK",
    "rule.NEW_SYN_RECV.rcv_ack": "对 SYN-ACK 的确认完成三次握手：一个完整的套接字进入全连接队列",
    "rule.NEW_SYN_RECV.timer_synack": "还没有 ACK：重传 SYN-ACK，间隔每次加倍",
    "rule.NEW_SYN_RECV.synack_retries_out": "重传 tcp_synack_retries 次后丢弃请求套接字",
    "rule.SYN_SENT.rcv_synack": "SYN-ACK 确认了我们的 SYN：连接建立，并立即发送 ACK",
    "rule.SYN_SENT.rcv_syn": "等待中收到不带 ACK 的 SYN：双方的 SYN 交叉（同时打开）",
    "rule.SYN_SENT.rcv_rst": "一个可接受的 RST 回答了我们的 SYN：那里没有监听（ECONNREFUSED）",
    "rule.SYN_SENT.timer_syn": "SYN 没有应答：以相同的初始序号重传",
    "rule.SYN_SENT.syn_retries_out": "SYN 已发送 tcp_syn_retries+1 次仍无应答：ETIMEDOUT",
    "rule.ESTABLISHED.retries_out": "数据超过 TCP_USER_TIMEOUT（或 tcp_retries2 对应的时间）仍未被确认：ETIMEDOUT",
    "rule.FIN_WAIT1.retries_out": "shutdown(SHUT_WR) 之后，数据或 FIN 超过 TCP_USER_TIMEOUT 仍未被确认：ETIMEDOUT",
    "rule.SYN_SENT.close": "握手期间 close() 不发送任何报文段（tcp_close_state：SYN_SENT -> CLOSE）",
    "rule.SYN_RECV.rcv_ack": "对我们 SYN-ACK 的确认完成了同时打开",
    "rule.ESTABLISHED.rcv_fin": "对方不再发送数据：它的 FIN 由推迟确认定时器确认，或随我们的 FIN "
                                "一起确认",
    "rule.ESTABLISHED.close": "没有未读数据时 close() 发送 FIN（FIN 进入队列时即进入 FIN_WAIT1）",
    "rule.ESTABLISHED.shutdown_wr": "shutdown(SHUT_WR) 发送 FIN，但保留描述符和接收方向（半关闭）",
    "rule.ESTABLISHED.close_unread": "有未读数据时 close() 发送 RST 而不是 FIN（RFC 2525 2.17）",
    "rule.ESTABLISHED.close_linger0": "SO_LINGER {{1, 0}}：close() 以 RST 异常终止连接",
    "rule.ESTABLISHED.rcv_rst": "对方异常终止了连接：下一个调用报告 ECONNRESET",
    "rule.ESTABLISHED.keepalive_out": "TCP_KEEPCNT 个保活探测都没有应答（空闲的对方已经不在）："
                                      "发送 RST，应用程序得到 ETIMEDOUT",
    "rule.SYN_RECV.close": "在 SYN_RECV 中 close() 发送 FIN",
    "rule.SYN_RECV.close_linger0": "SO_LINGER {{1, 0}}：close() 以 RST 异常终止半打开的连接（tcp_need_reset() 包括 SYN_RECV）",
    "rule.SYN_RECV.rcv_rst": "同时打开尚未完成时对方异常终止：connect() 得到 ECONNRESET",
    "rule.FIN_WAIT1.rcv_ack_of_fin": "我们的 FIN 已被确认；等待对方的 FIN",
    "rule.FIN_WAIT1.rcv_fin": "在我们的 FIN 被确认之前收到 FIN：同时关闭，立即确认",
    "rule.FIN_WAIT1.close_unread": "有未读数据时 close() 发送 RST",
    "rule.FIN_WAIT1.close_linger0": "SO_LINGER {{1, 0}}：close() 以 RST 异常终止连接",
    "rule.FIN_WAIT1.rcv_rst": "对方异常终止了连接",
    "rule.FIN_WAIT1.rcv_data_after_close": "发给已关闭套接字的数据：Linux 回答 RST（RFC 1122 "
                                           "4.2.2.13）",
    "rule.FIN_WAIT2.rcv_fin": "对方的 FIN：立即确认，并让连接在 TIME_WAIT 中保持 60 秒",
    "rule.FIN_WAIT2.close_unread": "有未读数据时 close() 发送 RST",
    "rule.FIN_WAIT2.close_linger0": "SO_LINGER {{1, 0}}：close() 以 RST 异常终止连接"
                                    "（tcp_need_reset 包括 FIN_WAIT2）",
    "rule.FIN_WAIT2.rcv_rst": "对方异常终止了连接",
    "rule.FIN_WAIT2.rcv_data_after_close": "发给已关闭套接字的数据：Linux 回答 RST",
    "rule.FIN_WAIT2.timer_fin_wait2": "孤儿 FIN_WAIT2 在 tcp_fin_timeout 之后放弃",
    "rule.FIN_WAIT2.keepalive_out": "TCP_KEEPCNT 个保活探测都没有应答：发送 RST，应用程序得到 ETIMEDOUT",
    "rule.CLOSING.rcv_ack_of_fin": "同时关闭后我们的 FIN 被确认：进入 TIME_WAIT",
    "rule.CLOSING.rcv_rst": "对方异常终止了连接",
    "rule.CLOSE_WAIT.close": "收到对方的 FIN 之后，close() 发送我们的 FIN；它的确认将结束连接",
    "rule.CLOSE_WAIT.shutdown_wr": "收到对方的 FIN 之后，shutdown(SHUT_WR) 发送我们的 FIN",
    "rule.CLOSE_WAIT.close_unread": "有未读数据时 close() 发送 RST",
    "rule.CLOSE_WAIT.close_linger0": "SO_LINGER {{1, 0}}：close() 以 RST 异常终止连接",
    "rule.CLOSE_WAIT.rcv_rst": "对方在发出 FIN 后异常终止了连接：EPIPE",
    "rule.CLOSE_WAIT.keepalive_out": "TCP_KEEPCNT 个保活探测都没有应答：发送 RST，应用程序得到 ETIMEDOUT",
    "rule.LAST_ACK.rcv_ack_of_fin": "我们 FIN 的确认到达：连接不复存在",
    "rule.LAST_ACK.rcv_rst": "对方异常终止了连接",
    "rule.TIME_WAIT.rcv_fin": "再次收到 FIN（我们最后的 ACK 丢失了）：再次确认，60 秒重新计时",
    "rule.TIME_WAIT.timer_timewait": "TIME_WAIT 持续 60 秒（TCP_TIMEWAIT_LEN），之后连接被遗忘",
    # -- explore：并发程序的每一种交互 ---------------------------------------------------------
    "explore.title": "tcpsim explore：{program}",
    "explore.counts": "探索了 {schedules} 种调度（各行共有 {interleavings} 种交错），{outcomes} 种不同的交互，{ms} ms",
    "explore.incomplete": "在 {limit} 种调度后停止（--limit）：可能还有更多交互。",
    "explore.single": "内核允许的每一种顺序都得到同一种交互。",
    "explore.outcome": "交互 {n}/{total}（{runs} 种调度）",
    "explore.call": "{process} 的 {call}()（第 {line} 行）",
    "explore.before": "当 {a} 先于 {b} 执行时",
    "explore.first": "当 {a} 最先执行时",
    "explore.together": "当 {a} 与 {b} 同时执行时：双方都在对方的报文段到达之前调用（{sender} 先发送，{first} 先收下对方的报文段）",
    "explore.timer.sleep": "当 {call} 中的暂停在 {socket} 的 {timer} 定时器触发之前结束时",
    "explore.timer.timer": "当 {socket} 的 {timer} 定时器在 {call} 中的暂停结束之前触发时",
    "explore.joiner": "；",
    "explore.arrival.segment": "当被延迟的 {segment}（与前一个报文段同时到期）在 {call} 之前到达时",
    "explore.arrival.call": "当 {call} 在被延迟的 {segment}（与前一个报文段同时到期）到达之前执行时",
    "explore.tick.timer": "当 {socket} 的 {timer} 定时器（一个 jiffy 内到期）在 {call} 之前触发时",
    "explore.tick.call": "当 {call} 在 {socket} 的 {timer} 定时器（一个 jiffy 内到期）触发之前执行时",
    "explore.result": "{call} 返回 {value}",
    "explore.hangs": "{process} 挂起在第 {line} 行（没有任何事件能完成这个调用）",
    "explore.states": "结束时：{states}",
    "run.hint.races.unknown": "进程并发运行时这个程序是否还有其他交互，{s} 秒内未能判定（程序较大：每个选择都要复制整个运行）；tcpsim explore {program} 会逐一遍历。",
    "run.hint.races": "进程并发运行时，这个程序可能产生不止一种交互；这里显示的是按文件顺序的一种。查看全部：tcpsim explore {program}",
    "scenarios.races": "有竞争",
    "free.title": "tcpsim lab --free：{program}，{runs} 次运行，进程并发",
    "free.inside": "{runs} 次运行全部落在探索出的集合中（见到其 {total} 种交互中的 {seen} 种）。",
    "free.outside": "{n} 次运行不在探索出的集合中；最接近的是交互 {nearest}：{diff}",
    # -- compare --program ------------------------------------------------------------------
    "against.stopped": "在第 {frame} 帧停止读取：{reason}；只比较它之前的报文段",
    "against.match": "一致 {name}：{capture} 的 {n} 个报文段正是模型预测的（配置 {profile}）",
    "against.match.exchange": "一致 {name}：{capture} 的 {n} 个报文段是该程序 {total} 种交互中的第 "
                              "{k} 种（配置 {profile}）",
    "against.differs": "不一致 {name}：模型（配置 {profile}）与 {capture} 之间有 {count} 处差异：",
    "against.differs.exchange": "不一致 {name}：{capture} 是该程序 {total} 种交互中的第 {k} 种，但字段有 "
                                "{count} 处差异（配置 {profile}）：",
    "against.outside": "不一致 {name}：{capture} 不是该程序 {total} 种交互中的任何一种；最接近的是第 {k} "
                       "种（配置 {profile}）",
    "against.race.tso_defer": "第 {segment} 个报文段处的竞争：内核立即发送，而模型会等下一个 ACK（tcp_tso_should_defer()：那个 ACK 预计在半个 RTT 之后才到，在 lo 上只差几微秒；见 docs/races.md）",
    "against.race.drs": "第 {segment} 个报文段处的竞争：接收缓冲自动调整在一次读取时走了另一条路（tcp_rcv_space_adjust()：距上次测量是否已过接收方的 RTT，在 lo 上只差几微秒，或其 RTT 样本里的一个毫秒跳变；见 docs/races.md）",
    "against.first": "第一处差异：{diff}",
    "against.incomplete": "遍历在 {limit} 个调度后停止（--limit）：程序可能还有未看到的交互。",
    "against.file_order": "这是按文件顺序的交互；该程序还有其他交互：tcpsim explore {program}",
    "against.see_all": "该程序的全部交互：tcpsim explore {program}",
    "exchange.diff.segment": "{conn} 的第 {n} 个报文段：模型中是 {expected}，{where}是 {seen}",
    "exchange.diff.call": "{call}：模型中返回 {expected}，{where}返回 {seen}",
    "exchange.diff.states": "最终状态：模型中是 {expected}，{where}是 {seen}",
    "exchange.diff.hangs": "仍在等待的调用：模型中是 {expected}，{where}是 {seen}",
    "diff.nothing": "无",
    # -- trace ----------------------------------------------------------------------------
    "close.dup2": "{call} 先悄悄关闭了它",
    "close.shared": "{who} 仍持有该描述符：套接字保留，不发送任何报文",
    "trace.left_out": "{process} 的程序中略去了：{calls}（它们不改变线路上的任何内容：只读取套接字信息，或调用失败）",
    "trace.the_run": "跟踪的这次运行",
    "trace.hang": "{command} 在 {s} 秒内毫无动静仍在等待，已被终止（SIGKILL），其最后一个调用没有返回",
    "trace.unsupported.call": "{process} 调用了 {call}，程序格式中没有这个调用；仍显示内核的运行，但对照模型时不含它",
    "trace.unsupported.processes": "{command} 从 {n} 个进程或线程发出套接字调用；格式尚不能表达它们共享描述符（issue 20），因此各算一个进程",
    "trace.unsupported.parse": "恢复出的程序无效：{why}",
    "trace.title": "tcpsim trace：{commands}，在私有网络命名空间中运行",
    "trace.program": "这些调用对应的程序（场景格式；--save 可写入文件）：",
    "trace.output": "{process} 的输出：",
    "trace.nothing": "没有任何命令在 TCP 套接字上发出调用：没有可与模型对照的内容。",
    "trace.not_held": "未与模型对照：{why}",
    "trace.congestion": "命名空间运行的拥塞控制是 {cc}（本机默认）；模型以 {model} 对照这次运行，因此最初几个往返之后的窗口可能不同",
    "trace.waiting": "结束时仍在等待的调用：模型中是 {m}，内核上是 {k}",
    "trace.call_result": "{call} 在内核上返回 {k}，在模型中返回 {m}",
    # -- compare: the tracker's findings (compare/tracker.py; helper cap, session 17) -------
    "compare.role.client": "客户端",
    "compare.role.server": "服务器",
    "compare.seen.self": "一个连接到自身的套接字",
    "compare.seen.both": "两侧都捕获到",
    "compare.seen.one": "只捕获到一侧",
    "compare.start.mid": "从连接中途开始",
    "compare.start.handshake": "从握手开始",
    "compare.phase.handshake": "握手",
    "compare.phase.data": "数据",
    "compare.phase.release": "释放",
    "compare.phase.none": "没有完整的阶段",
    "compare.story": "{n} 个包，{seen}；{start}；阶段：{phases}",
    "compare.sep": "；",
    "compare.lost_synack": "捕获丢失：{who}确认了{peer}的 SYN-ACK，而捕获中没有它（不是协议栈的问题）；按已发送处理",
    "compare.story.lost": "捕获丢失：{who}有 {n} 字节（{k} 处）未被捕获",
    "compare.midstream": "捕获从这个连接的中途开始：它的握手没有被捕获",
    "compare.syn_copy": "与包 {n} 完全相同，TS 值也相同：是网络复制了它，发送方并没有重发",
    "compare.no_syn": "{who}的 SYN 尚未得到应答（SYN_SENT），却发送了不带 SYN 的报文段：合规的协议栈不会这样做",
    "compare.syn_again": "{who}在 {s} 秒后重发 SYN：没有 SYN-ACK 到达它（定时器退避；见内核的 SYN 重传时间表）",
    "compare.syn_synchronized": "{who}在 {state} 中发出 SYN：已同步的连接以挑战 ACK 应答，而不是重新握手",
    "compare.synack_wrong_ack": "SYN-ACK 确认的是 {ack}，而不是{peer}的 SYN（1）：{peer}应当以复位应答",
    "compare.synack_again_syn": "{who}在 {s} 秒后重发 SYN-ACK，以应答重发的 SYN（包 {n}）：它的第一个 SYN-ACK 丢失了",
    "compare.synack_again_timer": "{who}在 {s} 秒后重发 SYN-ACK，即其定时器到期时（{timer} 秒）：第一个 SYN-ACK 丢失了，或者对它的 ACK 丢失了",
    "compare.synack_synchronized": "{who}在 {state} 中发出 SYN-ACK",
    "compare.ack_unsent": "{who}确认了 {ack}，但{peer}只发送到 {nxt}",
    "compare.ack_lost_segment": "捕获丢失：{who}确认了 {ack}，但捕获中{peer}的字节只到 {nxt}：{peer}发送的 {n} 字节没有被捕获（不是协议栈的问题）；按已发送处理",
    "compare.lost_segment": "捕获丢失：{who}在此报文段之前的 {n} 字节没有被捕获（已发送，但未捕获）；按已发送处理",
    "compare.data_after_fin": "{who}在自己的 FIN 之后发送数据",
    "compare.after": "（间隔 {s} 秒）",
    "compare.data_again": "{who}再次发送字节 {a}-{b}{since}：重传",
    "compare.why.fast": "；在 {k} 个重复 ACK 之后的快速重传（tcp_fastretrans_alert()；RACK，tcp_rack_mark_lost()）",
    "compare.why.out_of_order": "；它在第一个往返时间（{ms} 毫秒）内落在更后面的字节之后：乱序（在捕获点之前被重排，或因对端的 SACK 立即重发：tcp_rack_mark_lost()）",
    "compare.why.spurious": "；接收方早已确认了这些字节（到 {ack}）：伪重传（发送方的定时器在 ACK 到来之前就到期了）",
    "compare.why.tlp": "；这是它的最后一个报文段，此后没有任何确认：尾部丢失探测（tcp_send_loss_probe()，探测超时约两个往返时间）",
    "compare.why.rto": "；重传定时器到期（RTO {s} 秒：tcp_retransmit_timer()，每次加倍）",
    "compare.data_for_gone": "发给{peer}的数据，而{peer}这一端的连接已经不在了：应当复位",
    "compare.fin_again": "{who}在 {s} 秒后重发 FIN：它没有被确认",
    "compare.second_fin": "{who}在不同的序号上发送了第二个 FIN",
    "compare.refused": "{who}以复位应答 SYN：{addr} 上没有监听者（connect() 以 ECONNREFUSED 失败）",
    "compare.reset": "{who}复位了连接：{why}",
    "compare.reset.data_after_close": "它关闭之后还有数据到达（它的套接字已不能再读）",
    "compare.reset.no_socket": "它已经没有这个连接的套接字了",
    "compare.reset.abort": "它在仍有未读数据时关闭，或设置了 SO_LINGER {{1, 0}}：中止连接",
    "compare.no_rule": "{who}处于 {state}：状态转换表在那里没有 {event} 的规则",
    "compare.fin_on_wire": "{who}发送这个包时还没有收到包 {n} 的 FIN（它的确认号没有覆盖它）：FIN 仍在线路上",
    "compare.lost_after": "包 {n} 没有到达{who}：它在捕获点之后丢失了",
    "compare.idle": "{s} 秒内没有包：在此视为结束（不活动超时 {idle} 秒，同 Zeek 的 tcp_inactivity_timeout）；它之后的包会开始一个新的、从中途开始的连接",
    "compare.crowded": "提前结束，距它的最后一个包 {s} 秒：同时打开的连接超过 {n} 个，而它空闲最久；它之后的包会开始一个新的、从中途开始的连接",
    "compare.zero_window": "{who}通告零窗口：它的接收缓冲区已满，应用程序没有读走收到的数据（__tcp_select_window() 没有空间可提供）",
    "compare.zero_window_probe": "{who}探测{peer}的零窗口：在 SND.UNA-1 处发送不带数据的报文段，由坚持定时器发出（tcp_probe_timer()，tcp_send_probe0() -> tcp_write_wakeup() -> tcp_xmit_probe_skb()）；Wireshark 把这种形状当作保活包",
    "compare.zero_window_probe_byte": "{who}向{peer}的零窗口发送一个字节：窗口探测（Linux 改为在 SND.UNA-1 处发送不带数据的探测：tcp_xmit_probe_skb()）",
    "compare.keep_alive": "{who}在连接的上一个报文段之后 {s} 秒发送保活包：在 SND.NXT-1 处不带数据，对端必须确认（tcp_keepalive_timer() -> tcp_write_wakeup() -> tcp_xmit_probe_skb()）",
    "compare.keep_alive_ack": "{who}应答保活包：它的序号是旧的，因此立即得到一个 ACK（tcp_send_dupack()）",
    "compare.window_update": "{who}在没有新数据或新确认的情况下把窗口从 {old} 字节改为 {new} 字节：窗口更新（应用程序读取之后，tcp_cleanup_rbuf() -> tcp_send_ack()）",
    "compare.window_reopens": "{who}把零窗口重新打开到 {new} 字节：应用程序读取之后的窗口更新（tcp_cleanup_rbuf() -> tcp_send_ack()）；对端的坚持定时器停止",
    "compare.window_full": "{who}的数据到达{peer}窗口的右边缘（确认号 {ack} 之后 {wnd} 字节）：窗口已满，{who}必须等待窗口打开（tcp_write_xmit() 停在 tcp_snd_wnd_test()）",
    "compare.duplicate_ack": "{who}再次确认 {ack}（第 {k} 个重复 ACK）：数据乱序到达或重复到达，立即应答（tcp_data_queue()，tcp_send_dupack()）",
    "compare.duplicate_ack_sack": "{who}再次确认 {ack}（第 {k} 个重复 ACK），带 SACK 块：数据乱序到达或重复到达，立即应答（tcp_data_queue()，tcp_send_dupack()；tcp_sack_new_ofo_skb() 或 D-SACK）",
}
