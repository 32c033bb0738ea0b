; Geometry for the LCLS MFX Epix10ka2M (epix10k2m.0), exported from psana
; geometry constants -> CrystFEL format. Optical metrology run 2019-12, refined
; with geoptimiser on lysozyme (run 113). 64 ASIC panels p<module>a<asic>.

clen = /LCLS/detector_1/EncoderValue   ; mm, from the DAQ
coffset = 0.0995
photon_energy = /LCLS/photon_energy_eV
adu_per_eV = 0.00114  ; high-gain mode
max_adu = 16000
res = 10000

data = /entry_1/data_1/data
dim0 = %
dim1 = ss
dim2 = fs
mask = /entry_1/data_1/mask
mask_good = 0x0000
mask_bad = 0xffff
peak_list = /entry_1/result_1
peak_list_type = cxi

group_p0 = p0a0,p0a1,p0a2,p0a3
group_p1 = p1a0,p1a1,p1a2,p1a3
group_p2 = p2a0,p2a1,p2a2,p2a3
group_p3 = p3a0,p3a1,p3a2,p3a3
group_p4 = p4a0,p4a1,p4a2,p4a3
group_p5 = p5a0,p5a1,p5a2,p5a3
group_p6 = p6a0,p6a1,p6a2,p6a3
group_p7 = p7a0,p7a1,p7a2,p7a3
group_p8 = p8a0,p8a1,p8a2,p8a3
group_p9 = p9a0,p9a1,p9a2,p9a3
group_p10 = p10a0,p10a1,p10a2,p10a3
group_p11 = p11a0,p11a1,p11a2,p11a3
group_p12 = p12a0,p12a1,p12a2,p12a3
group_p13 = p13a0,p13a1,p13a2,p13a3
group_p14 = p14a0,p14a1,p14a2,p14a3
group_p15 = p15a0,p15a1,p15a2,p15a3
group_q0 = p0,p1,p2,p3
group_q1 = p4,p5,p6,p7
group_q2 = p8,p9,p10,p11
group_q3 = p12,p13,p14,p15
group_all = q0,q1,q2,q3

rigid_group_p0 = p0a0,p0a1,p0a2,p0a3
rigid_group_p1 = p1a0,p1a1,p1a2,p1a3
rigid_group_p2 = p2a0,p2a1,p2a2,p2a3
rigid_group_p3 = p3a0,p3a1,p3a2,p3a3
rigid_group_p4 = p4a0,p4a1,p4a2,p4a3
rigid_group_p5 = p5a0,p5a1,p5a2,p5a3
rigid_group_p6 = p6a0,p6a1,p6a2,p6a3
rigid_group_p7 = p7a0,p7a1,p7a2,p7a3
rigid_group_p8 = p8a0,p8a1,p8a2,p8a3
rigid_group_p9 = p9a0,p9a1,p9a2,p9a3
rigid_group_p10 = p10a0,p10a1,p10a2,p10a3
rigid_group_p11 = p11a0,p11a1,p11a2,p11a3
rigid_group_p12 = p12a0,p12a1,p12a2,p12a3
rigid_group_p13 = p13a0,p13a1,p13a2,p13a3
rigid_group_p14 = p14a0,p14a1,p14a2,p14a3
rigid_group_p15 = p15a0,p15a1,p15a2,p15a3
rigid_group_collection_modules = p0,p1,p2,p3,p4,p5,p6,p7,p8,p9,p10,p11,p12,p13,p14,p15

p0a0/min_fs = 0
p0a0/max_fs = 191
p0a0/min_ss = 0
p0a0/max_ss = 175
p0a0/fs = +1.000000x -0.000280y -0.000971z
p0a0/ss = -0.000280x -1.000000y +0.000000z
p0a0/corner_x = 12.5040
p0a0/corner_y = 730.5912

p0a1/min_fs = 192
p0a1/max_fs = 383
p0a1/min_ss = 0
p0a1/max_ss = 175
p0a1/fs = +1.000000x -0.000280y -0.000971z
p0a1/ss = -0.000280x -1.000000y +0.000000z
p0a1/corner_x = 207.0466
p0a1/corner_y = 729.6227

p0a2/min_fs = 0
p0a2/max_fs = 191
p0a2/min_ss = 176
p0a2/max_ss = 351
p0a2/fs = +1.000000x -0.000280y -0.000971z
p0a2/ss = -0.000280x -1.000000y +0.000000z
p0a2/corner_x = 12.0601
p0a2/corner_y = 551.0126

p0a3/min_fs = 192
p0a3/max_fs = 383
p0a3/min_ss = 176
p0a3/max_ss = 351
p0a3/fs = +1.000000x -0.000280y -0.000971z
p0a3/ss = -0.000280x -1.000000y +0.000000z
p0a3/corner_x = 206.7366
p0a3/corner_y = 551.4588

p1a0/min_fs = 0
p1a0/max_fs = 191
p1a0/min_ss = 352
p1a0/max_ss = 527
p1a0/fs = +1.000000x +0.000869y -0.002818z
p1a0/ss = +0.000869x -1.000000y +0.000000z
p1a0/corner_x = 407.2650
p1a0/corner_y = 729.5714

p1a1/min_fs = 192
p1a1/max_fs = 383
p1a1/min_ss = 352
p1a1/max_ss = 527
p1a1/fs = +1.000000x +0.000869y -0.002818z
p1a1/ss = +0.000869x -1.000000y +0.000000z
p1a1/corner_x = 601.8700
p1a1/corner_y = 729.7335

p1a2/min_fs = 0
p1a2/max_fs = 191
p1a2/min_ss = 528
p1a2/max_ss = 703
p1a2/fs = +1.000000x +0.000869y -0.002818z
p1a2/ss = +0.000869x -1.000000y +0.000000z
p1a2/corner_x = 406.7773
p1a2/corner_y = 551.0003

p1a3/min_fs = 192
p1a3/max_fs = 383
p1a3/min_ss = 528
p1a3/max_ss = 703
p1a3/fs = +1.000000x +0.000869y -0.002818z
p1a3/ss = +0.000869x -1.000000y +0.000000z
p1a3/corner_x = 601.8579
p1a3/corner_y = 550.9052

p2a0/min_fs = 0
p2a0/max_fs = 191
p2a0/min_ss = 704
p2a0/max_ss = 879
p2a0/fs = +0.999999x +0.001146y -0.000602z
p2a0/ss = +0.001146x -0.999999y +0.000000z
p2a0/corner_x = 12.1268
p2a0/corner_y = 366.5395

p2a1/min_fs = 192
p2a1/max_fs = 383
p2a1/min_ss = 704
p2a1/max_ss = 879
p2a1/fs = +0.999999x +0.001146y -0.000602z
p2a1/ss = +0.001146x -0.999999y +0.000000z
p2a1/corner_x = 207.0578
p2a1/corner_y = 367.2091

p2a2/min_fs = 0
p2a2/max_fs = 191
p2a2/min_ss = 880
p2a2/max_ss = 1055
p2a2/fs = +0.999999x +0.001146y -0.000602z
p2a2/ss = +0.001146x -0.999999y +0.000000z
p2a2/corner_x = 12.0371
p2a2/corner_y = 187.8236

p2a3/min_fs = 192
p2a3/max_fs = 383
p2a3/min_ss = 880
p2a3/max_ss = 1055
p2a3/fs = +0.999999x +0.001146y -0.000602z
p2a3/ss = +0.001146x -0.999999y +0.000000z
p2a3/corner_x = 207.3153
p2a3/corner_y = 188.4358

p3a0/min_fs = 0
p3a0/max_fs = 191
p3a0/min_ss = 1056
p3a0/max_ss = 1231
p3a0/fs = +1.000000x +0.000131y +0.003199z
p3a0/ss = +0.000131x -1.000000y +0.000000z
p3a0/corner_x = 407.3952
p3a0/corner_y = 367.0847

p3a1/min_fs = 192
p3a1/max_fs = 383
p3a1/min_ss = 1056
p3a1/max_ss = 1231
p3a1/fs = +1.000000x +0.000131y +0.003199z
p3a1/ss = +0.000131x -1.000000y +0.000000z
p3a1/corner_x = 602.1050
p3a1/corner_y = 367.2981

p3a2/min_fs = 0
p3a2/max_fs = 191
p3a2/min_ss = 1232
p3a2/max_ss = 1407
p3a2/fs = +1.000000x +0.000131y +0.003199z
p3a2/ss = +0.000131x -1.000000y +0.000000z
p3a2/corner_x = 407.1853
p3a2/corner_y = 187.6871

p3a3/min_fs = 192
p3a3/max_fs = 383
p3a3/min_ss = 1232
p3a3/max_ss = 1407
p3a3/fs = +1.000000x +0.000131y +0.003199z
p3a3/ss = +0.000131x -1.000000y +0.000000z
p3a3/corner_x = 601.9457
p3a3/corner_y = 188.3612

p4a0/min_fs = 0
p4a0/max_fs = 191
p4a0/min_ss = 1408
p4a0/max_ss = 1583
p4a0/fs = +0.001220x +0.999999y -0.000023z
p4a0/ss = +0.999999x -0.001220y +0.000000z
p4a0/corner_x = -730.1115
p4a0/corner_y = 11.7819

p4a1/min_fs = 192
p4a1/max_fs = 383
p4a1/min_ss = 1408
p4a1/max_ss = 1583
p4a1/fs = +0.001220x +0.999999y -0.000023z
p4a1/ss = +0.999999x -0.001220y +0.000000z
p4a1/corner_x = -730.3701
p4a1/corner_y = 207.2297

p4a2/min_fs = 0
p4a2/max_fs = 191
p4a2/min_ss = 1584
p4a2/max_ss = 1759
p4a2/fs = +0.001220x +0.999999y -0.000023z
p4a2/ss = +0.999999x -0.001220y +0.000000z
p4a2/corner_x = -551.3903
p4a2/corner_y = 12.4940

p4a3/min_fs = 192
p4a3/max_fs = 383
p4a3/min_ss = 1584
p4a3/max_ss = 1759
p4a3/fs = +0.001220x +0.999999y -0.000023z
p4a3/ss = +0.999999x -0.001220y +0.000000z
p4a3/corner_x = -551.0236
p4a3/corner_y = 206.8460

p5a0/min_fs = 0
p5a0/max_fs = 191
p5a0/min_ss = 1760
p5a0/max_ss = 1935
p5a0/fs = -0.000538x +1.000000y -0.000822z
p5a0/ss = +1.000000x +0.000538y +0.000000z
p5a0/corner_x = -729.7498
p5a0/corner_y = 406.8712

p5a1/min_fs = 192
p5a1/max_fs = 383
p5a1/min_ss = 1760
p5a1/max_ss = 1935
p5a1/fs = -0.000538x +1.000000y -0.000822z
p5a1/ss = +1.000000x +0.000538y +0.000000z
p5a1/corner_x = -729.6400
p5a1/corner_y = 602.2245

p5a2/min_fs = 0
p5a2/max_fs = 191
p5a2/min_ss = 1936
p5a2/max_ss = 2111
p5a2/fs = -0.000538x +1.000000y -0.000822z
p5a2/ss = +1.000000x +0.000538y +0.000000z
p5a2/corner_x = -550.8352
p5a2/corner_y = 407.2494

p5a3/min_fs = 192
p5a3/max_fs = 383
p5a3/min_ss = 1936
p5a3/max_ss = 2111
p5a3/fs = -0.000538x +1.000000y -0.000822z
p5a3/ss = +1.000000x +0.000538y +0.000000z
p5a3/corner_x = -550.8300
p5a3/corner_y = 602.6895

p6a0/min_fs = 0
p6a0/max_fs = 191
p6a0/min_ss = 2112
p6a0/max_ss = 2287
p6a0/fs = -0.000206x +1.000000y +0.001945z
p6a0/ss = +1.000000x +0.000206y +0.000000z
p6a0/corner_x = -366.7302
p6a0/corner_y = 11.5759

p6a1/min_fs = 192
p6a1/max_fs = 383
p6a1/min_ss = 2112
p6a1/max_ss = 2287
p6a1/fs = -0.000206x +1.000000y +0.001945z
p6a1/ss = +1.000000x +0.000206y +0.000000z
p6a1/corner_x = -366.8838
p6a1/corner_y = 207.0335

p6a2/min_fs = 0
p6a2/max_fs = 191
p6a2/min_ss = 2288
p6a2/max_ss = 2463
p6a2/fs = -0.000206x +1.000000y +0.001945z
p6a2/ss = +1.000000x +0.000206y +0.000000z
p6a2/corner_x = -187.8395
p6a2/corner_y = 11.8503

p6a3/min_fs = 192
p6a3/max_fs = 383
p6a3/min_ss = 2288
p6a3/max_ss = 2463
p6a3/fs = -0.000206x +1.000000y +0.001945z
p6a3/ss = +1.000000x +0.000206y +0.000000z
p6a3/corner_x = -187.8050
p6a3/corner_y = 206.9975

p7a0/min_fs = 0
p7a0/max_fs = 191
p7a0/min_ss = 2464
p7a0/max_ss = 2639
p7a0/fs = -0.001222x +0.999999y -0.001718z
p7a0/ss = +0.999999x +0.001222y +0.000000z
p7a0/corner_x = -367.2876
p7a0/corner_y = 407.3730

p7a1/min_fs = 192
p7a1/max_fs = 383
p7a1/min_ss = 2464
p7a1/max_ss = 2639
p7a1/fs = -0.001222x +0.999999y -0.001718z
p7a1/ss = +0.999999x +0.001222y +0.000000z
p7a1/corner_x = -366.8481
p7a1/corner_y = 602.0663

p7a2/min_fs = 0
p7a2/max_fs = 191
p7a2/min_ss = 2640
p7a2/max_ss = 2815
p7a2/fs = -0.001222x +0.999999y -0.001718z
p7a2/ss = +0.999999x +0.001222y +0.000000z
p7a2/corner_x = -188.3319
p7a2/corner_y = 406.9927

p7a3/min_fs = 192
p7a3/max_fs = 383
p7a3/min_ss = 2640
p7a3/max_ss = 2815
p7a3/fs = -0.001222x +0.999999y -0.001718z
p7a3/ss = +0.999999x +0.001222y +0.000000z
p7a3/corner_x = -187.9663
p7a3/corner_y = 602.2814

p8a0/min_fs = 0
p8a0/max_fs = 191
p8a0/min_ss = 2816
p8a0/max_ss = 2991
p8a0/fs = -1.000000x -0.000679y -0.000865z
p8a0/ss = -0.000679x +1.000000y +0.000000z
p8a0/corner_x = -12.4205
p8a0/corner_y = -730.4692

p8a1/min_fs = 192
p8a1/max_fs = 383
p8a1/min_ss = 2816
p8a1/max_ss = 2991
p8a1/fs = -1.000000x -0.000679y -0.000865z
p8a1/ss = -0.000679x +1.000000y +0.000000z
p8a1/corner_x = -206.7601
p8a1/corner_y = -730.2721

p8a2/min_fs = 0
p8a2/max_fs = 191
p8a2/min_ss = 2992
p8a2/max_ss = 3167
p8a2/fs = -1.000000x -0.000679y -0.000865z
p8a2/ss = -0.000679x +1.000000y +0.000000z
p8a2/corner_x = -12.6733
p8a2/corner_y = -550.9032

p8a3/min_fs = 192
p8a3/max_fs = 383
p8a3/min_ss = 2992
p8a3/max_ss = 3167
p8a3/fs = -1.000000x -0.000679y -0.000865z
p8a3/ss = -0.000679x +1.000000y +0.000000z
p8a3/corner_x = -206.8455
p8a3/corner_y = -550.7242

p9a0/min_fs = 0
p9a0/max_fs = 191
p9a0/min_ss = 3168
p9a0/max_ss = 3343
p9a0/fs = -1.000000x +0.000027y -0.004376z
p9a0/ss = +0.000027x +1.000000y +0.000000z
p9a0/corner_x = -406.8204
p9a0/corner_y = -729.5167

p9a1/min_fs = 192
p9a1/max_fs = 383
p9a1/min_ss = 3168
p9a1/max_ss = 3343
p9a1/fs = -1.000000x +0.000027y -0.004376z
p9a1/ss = +0.000027x +1.000000y +0.000000z
p9a1/corner_x = -601.8199
p9a1/corner_y = -729.9494

p9a2/min_fs = 0
p9a2/max_fs = 191
p9a2/min_ss = 3344
p9a2/max_ss = 3519
p9a2/fs = -1.000000x +0.000027y -0.004376z
p9a2/ss = +0.000027x +1.000000y +0.000000z
p9a2/corner_x = -406.8513
p9a2/corner_y = -551.3787

p9a3/min_fs = 192
p9a3/max_fs = 383
p9a3/min_ss = 3344
p9a3/max_ss = 3519
p9a3/fs = -1.000000x +0.000027y -0.004376z
p9a3/ss = +0.000027x +1.000000y +0.000000z
p9a3/corner_x = -601.5299
p9a3/corner_y = -550.7297

p10a0/min_fs = 0
p10a0/max_fs = 191
p10a0/min_ss = 3520
p10a0/max_ss = 3695
p10a0/fs = -0.999999x +0.001374y -0.000326z
p10a0/ss = +0.001374x +0.999999y +0.000000z
p10a0/corner_x = -11.6827
p10a0/corner_y = -366.8278

p10a1/min_fs = 192
p10a1/max_fs = 383
p10a1/min_ss = 3520
p10a1/max_ss = 3695
p10a1/fs = -0.999999x +0.001374y -0.000326z
p10a1/ss = +0.001374x +0.999999y +0.000000z
p10a1/corner_x = -207.4699
p10a1/corner_y = -366.8774

p10a2/min_fs = 0
p10a2/max_fs = 191
p10a2/min_ss = 3696
p10a2/max_ss = 3871
p10a2/fs = -0.999999x +0.001374y -0.000326z
p10a2/ss = +0.001374x +0.999999y +0.000000z
p10a2/corner_x = -11.9711
p10a2/corner_y = -188.0058

p10a3/min_fs = 192
p10a3/max_fs = 383
p10a3/min_ss = 3696
p10a3/max_ss = 3871
p10a3/fs = -0.999999x +0.001374y -0.000326z
p10a3/ss = +0.001374x +0.999999y +0.000000z
p10a3/corner_x = -207.0225
p10a3/corner_y = -188.1346

p11a0/min_fs = 0
p11a0/max_fs = 191
p11a0/min_ss = 3872
p11a0/max_ss = 4047
p11a0/fs = -1.000000x -0.000358y -0.001464z
p11a0/ss = -0.000358x +1.000000y +0.000000z
p11a0/corner_x = -406.9695
p11a0/corner_y = -366.8234

p11a1/min_fs = 192
p11a1/max_fs = 383
p11a1/min_ss = 3872
p11a1/max_ss = 4047
p11a1/fs = -1.000000x -0.000358y -0.001464z
p11a1/ss = -0.000358x +1.000000y +0.000000z
p11a1/corner_x = -601.5068
p11a1/corner_y = -367.0357

p11a2/min_fs = 0
p11a2/max_fs = 191
p11a2/min_ss = 4048
p11a2/max_ss = 4223
p11a2/fs = -1.000000x -0.000358y -0.001464z
p11a2/ss = -0.000358x +1.000000y +0.000000z
p11a2/corner_x = -407.0885
p11a2/corner_y = -187.9236

p11a3/min_fs = 192
p11a3/max_fs = 383
p11a3/min_ss = 4048
p11a3/max_ss = 4223
p11a3/fs = -1.000000x -0.000358y -0.001464z
p11a3/ss = -0.000358x +1.000000y +0.000000z
p11a3/corner_x = -602.1781
p11a3/corner_y = -187.2385

p12a0/min_fs = 0
p12a0/max_fs = 191
p12a0/min_ss = 4224
p12a0/max_ss = 4399
p12a0/fs = +0.000718x -1.000000y -0.001377z
p12a0/ss = -1.000000x -0.000718y +0.000000z
p12a0/corner_x = 729.7371
p12a0/corner_y = -11.5523

p12a1/min_fs = 192
p12a1/max_fs = 383
p12a1/min_ss = 4224
p12a1/max_ss = 4399
p12a1/fs = +0.000718x -1.000000y -0.001377z
p12a1/ss = -1.000000x -0.000718y +0.000000z
p12a1/corner_x = 729.8663
p12a1/corner_y = -206.6625

p12a2/min_fs = 0
p12a2/max_fs = 191
p12a2/min_ss = 4400
p12a2/max_ss = 4575
p12a2/fs = +0.000718x -1.000000y -0.001377z
p12a2/ss = -1.000000x -0.000718y +0.000000z
p12a2/corner_x = 551.1713
p12a2/corner_y = -12.0980

p12a3/min_fs = 192
p12a3/max_fs = 383
p12a3/min_ss = 4400
p12a3/max_ss = 4575
p12a3/fs = +0.000718x -1.000000y -0.001377z
p12a3/ss = -1.000000x -0.000718y +0.000000z
p12a3/corner_x = 550.7758
p12a3/corner_y = -206.6271

p13a0/min_fs = 0
p13a0/max_fs = 191
p13a0/min_ss = 4576
p13a0/max_ss = 4751
p13a0/fs = +0.001278x -0.999999y +0.002782z
p13a0/ss = -0.999999x -0.001278y +0.000000z
p13a0/corner_x = 730.2462
p13a0/corner_y = -407.1556

p13a1/min_fs = 192
p13a1/max_fs = 383
p13a1/min_ss = 4576
p13a1/max_ss = 4751
p13a1/fs = +0.001278x -0.999999y +0.002782z
p13a1/ss = -0.999999x -0.001278y +0.000000z
p13a1/corner_x = 729.9811
p13a1/corner_y = -601.6783

p13a2/min_fs = 0
p13a2/max_fs = 191
p13a2/min_ss = 4752
p13a2/max_ss = 4927
p13a2/fs = +0.001278x -0.999999y +0.002782z
p13a2/ss = -0.999999x -0.001278y +0.000000z
p13a2/corner_x = 550.7600
p13a2/corner_y = -406.9978

p13a3/min_fs = 192
p13a3/max_fs = 383
p13a3/min_ss = 4752
p13a3/max_ss = 4927
p13a3/fs = +0.001278x -0.999999y +0.002782z
p13a3/ss = -0.999999x -0.001278y +0.000000z
p13a3/corner_x = 551.0534
p13a3/corner_y = -602.2720

p14a0/min_fs = 0
p14a0/max_fs = 191
p14a0/min_ss = 4928
p14a0/max_ss = 5103
p14a0/fs = +0.000017x -1.000000y +0.002065z
p14a0/ss = -1.000000x -0.000017y +0.000000z
p14a0/corner_x = 367.5430
p14a0/corner_y = -12.2385

p14a1/min_fs = 192
p14a1/max_fs = 383
p14a1/min_ss = 4928
p14a1/max_ss = 5103
p14a1/fs = +0.000017x -1.000000y +0.002065z
p14a1/ss = -1.000000x -0.000017y +0.000000z
p14a1/corner_x = 367.0134
p14a1/corner_y = -206.4229

p14a2/min_fs = 0
p14a2/max_fs = 191
p14a2/min_ss = 5104
p14a2/max_ss = 5279
p14a2/fs = +0.000017x -1.000000y +0.002065z
p14a2/ss = -1.000000x -0.000017y +0.000000z
p14a2/corner_x = 188.0417
p14a2/corner_y = -12.1952

p14a3/min_fs = 192
p14a3/max_fs = 383
p14a3/min_ss = 5104
p14a3/max_ss = 5279
p14a3/fs = +0.000017x -1.000000y +0.002065z
p14a3/ss = -1.000000x -0.000017y +0.000000z
p14a3/corner_x = 187.9046
p14a3/corner_y = -206.9685

p15a0/min_fs = 0
p15a0/max_fs = 191
p15a0/min_ss = 5280
p15a0/max_ss = 5455
p15a0/fs = -0.000839x -1.000000y -0.000043z
p15a0/ss = -1.000000x +0.000839y +0.000000z
p15a0/corner_x = 367.0094
p15a0/corner_y = -407.6288

p15a1/min_fs = 192
p15a1/max_fs = 383
p15a1/min_ss = 5280
p15a1/max_ss = 5455
p15a1/fs = -0.000839x -1.000000y -0.000043z
p15a1/ss = -1.000000x +0.000839y +0.000000z
p15a1/corner_x = 367.0569
p15a1/corner_y = -602.2926

p15a2/min_fs = 0
p15a2/max_fs = 191
p15a2/min_ss = 5456
p15a2/max_ss = 5631
p15a2/fs = -0.000839x -1.000000y -0.000043z
p15a2/ss = -1.000000x +0.000839y +0.000000z
p15a2/corner_x = 188.3010
p15a2/corner_y = -406.6549

p15a3/min_fs = 192
p15a3/max_fs = 383
p15a3/min_ss = 5456
p15a3/max_ss = 5631
p15a3/fs = -0.000839x -1.000000y -0.000043z
p15a3/ss = -1.000000x +0.000839y +0.000000z
p15a3/corner_x = 187.7299
p15a3/corner_y = -601.8665

; ASIC with a dead column block (slab coordinates of the data array)
bad_p3a1/panel = p3a1
bad_p3a1/min_fs = 200
bad_p3a1/max_fs = 215
bad_p3a1/min_ss = 1056
bad_p3a1/max_ss = 1231

; shadow of the beam stop holder (lab pixels)
bad_beamstop/min_x = -20.0
bad_beamstop/max_x = 20.0
bad_beamstop/min_y = -400.0
bad_beamstop/max_y = 0.0

